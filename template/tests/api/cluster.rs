//! The task queue on a Redis Cluster beyond what the queue's and beat's tests show there
//! (each of them runs on a cluster too): readiness, and a master's death mid-run.
use std::time::Duration;

use crate::service::controllers::tasks::{schedule_many, schedule_task};
use crate::service::models::task::State;
use crate::service::queue::{JobCall, Keys};
use crate::support::app::spawn_app_with;
use crate::support::cluster::Cluster;
use crate::support::eventually;
use crate::support::fixtures::add_one_year;
use crate::support::process::Process;
use crate::support::redis::TestRedis;
use crate::support::tasks::TaskWorld;

#[tokio::test]
async fn ready_checks_redis_on_a_cluster() {
    let Some(redis) = TestRedis::cluster().await else {
        return;
    };
    let app = spawn_app_with(|settings| redis.configure(settings)).await;

    let response = app.get("/mon/ready").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["checks"]["redis"], "ok", "{body}");
}

#[tokio::test]
async fn every_task_succeeds_once_when_the_namespaces_master_dies_mid_run() {
    let Some(mut cluster) =
        tokio::task::spawn_blocking(|| Cluster::start_or_skip("the failover test is SKIPPED"))
            .await
            .expect("the cluster starts or is skipped")
    else {
        return;
    };
    let redis = TestRedis::at(cluster.url());
    let world = TaskWorld::new(&redis).await;
    let (master, replica) = cluster.master_and_replica_of(&Keys::new(&redis.namespace).ready());
    const PERSONS: usize = 20;
    const YEARS: usize = 15;
    let mut persons = Vec::new();
    for _ in 0..PERSONS {
        persons.push(world.person(0).await);
    }
    // 300 tasks of 100 ms on 2 workers of 8: about 2 s of work, cut by the failover.
    let calls: Vec<JobCall> = (0..YEARS)
        .flat_map(|_| persons.iter().map(|id| add_one_year(*id, 100)))
        .collect();
    let total = calls.len() as i64;
    schedule_many(&world.tasks, calls, None)
        .await
        .expect("scheduled");
    let mut env = redis.env(&world.database.url);
    env.push(("APP__TASKS__CONCURRENCY".into(), "8".into()));
    // Long enough that no worker is presumed dead while the cluster fails over.
    env.push(("APP__TASKS__WORKER_LEASE_SECS".into(), "30".into()));
    let workers = [
        Process::start("worker", &env),
        Process::start("worker", &env),
    ];
    let succeeded = "SELECT COUNT(*) FROM tasks WHERE state = 'succeeded'";
    let started = eventually(
        Duration::from_secs(30),
        async || world.count(succeeded).await,
        |done| *done >= 20,
    )
    .await;
    assert!(started >= 20, "{started} done\n{}", workers[0].output());

    cluster.kill(master);
    let killed_at = world.count(succeeded).await;
    let promoted = eventually(
        Duration::from_secs(20),
        async || cluster.is_master(replica) && cluster.is_ok(),
        |promoted| *promoted,
    )
    .await;
    assert!(promoted, "the replica on {replica} took over from {master}");
    // Scheduled on the handle that knew the old master: it follows the promotion.
    let after = eventually(
        Duration::from_secs(20),
        async || schedule_task(&world.tasks, add_one_year(persons[0], 0), None).await,
        Result::is_ok,
    )
    .await
    .expect("scheduling works again once the replica leads");

    let done = eventually(
        Duration::from_secs(60),
        async || world.count(succeeded).await,
        |done| *done == total + 1,
    )
    .await;
    assert_eq!(
        done,
        total + 1,
        "all succeeded\n{}\n{}",
        workers[0].output(),
        workers[1].output()
    );
    assert!(
        killed_at < total,
        "the master died mid-run ({killed_at} of {total} done)"
    );
    assert_eq!(world.count("SELECT COUNT(*) FROM tasks").await, total + 1);
    assert_eq!(
        world.finished(after.id, Duration::ZERO).await.state,
        State::Succeeded
    );
    // Run once each: a second run would add a second year.
    for (index, id) in persons.iter().enumerate() {
        let years = YEARS as i32 + i32::from(index == 0);
        assert_eq!(
            world.age(*id).await,
            years,
            "person {id}: {years} birthdays"
        );
    }
}
