//! `beat` processes on a real Redis, and on a Redis Cluster: one fire per tick, however
//! many run.
use std::collections::BTreeSet;
use std::time::Duration;

use sea_orm::EntityTrait;

use crate::service::models::task;
use crate::service::queue::Keys;
use crate::support::eventually;
use crate::support::process::Process;
use crate::support::redis::{TestRedis, on_redis_and_cluster};
use crate::support::tasks::TaskWorld;

/// The ticks fired so far, from the request ids beat gives its tasks, with duplicates.
async fn fired(world: &TaskWorld) -> Vec<String> {
    task::Entity::find()
        .all(&world.db)
        .await
        .expect("tasks")
        .into_iter()
        .filter_map(|task| task.request_id)
        .filter(|id| id.starts_with("beat:every-second:"))
        .collect()
}

on_redis_and_cluster!(two_beats_fire_each_tick_once_and_survive_the_leaders_death);
async fn two_beats_fire_each_tick_once_and_survive_the_leaders_death(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let person = world.person(0).await;
    let mut env = redis.env(&world.database.url);
    env.push((
        "APP_CONFIG_YAML".into(),
        format!(
            "beat:\n  catch_up_secs: 6\n  schedules:\n    every-second:\n      \
             cron: \"* * * * * *\"\n      task: persons.add_one_year\n      \
             args:\n        person_id: {person}\n"
        ),
    ));
    let mut beats = [Process::start("beat", &env), Process::start("beat", &env)];

    let at_least = async |count: usize, patience: Duration| {
        let ticks = eventually(
            patience,
            async || fired(&world).await.len(),
            |ticks| *ticks >= count,
        )
        .await;
        assert!(
            ticks >= count,
            "{ticks} ticks, not {count}, after {patience:?}"
        );
    };
    at_least(3, Duration::from_secs(20)).await;
    let leader_id: String = {
        use fred::prelude::*;
        let client = redis.client().await;
        let key = Keys::new(&redis.namespace).beat_leader();
        client.get(key).await.expect("leader key")
    };
    let leader = beats
        .iter()
        .position(|beat| leader_id.contains(&format!("-{}-", beat.pid())))
        .unwrap_or_else(|| panic!("leader {leader_id} is one of the beats"));
    beats[leader].signal("KILL");
    beats[leader].exited(Duration::from_secs(5)).await;
    let before_kill = fired(&world).await.len();
    // The lease (2 s) runs out, the other beat takes over and catches up.
    at_least(before_kill + 4, Duration::from_secs(20)).await;
    let follower = &beats[1 - leader];
    follower.signal("TERM");

    let ticks = fired(&world).await;
    let unique: BTreeSet<&String> = ticks.iter().collect();
    assert_eq!(unique.len(), ticks.len(), "a tick fired twice: {ticks:?}");
    // Seconds in a row: the ticks missed during the failover were caught up.
    let seconds: Vec<i64> = unique
        .iter()
        .map(|id| {
            let at = id.trim_start_matches("beat:every-second:");
            chrono::DateTime::parse_from_rfc3339(at)
                .expect("an RFC 3339 tick")
                .timestamp()
        })
        .collect();
    for pair in seconds.windows(2) {
        assert_eq!(pair[1] - pair[0], 1, "no tick missed: {ticks:?}");
    }
    assert!(
        follower.output().contains("beat leads"),
        "{}",
        follower.output()
    );
}
