//! One way to make each thing a test starts from.
use sea_orm::DatabaseConnection;

use crate::service::controllers::persons::{self, PersonInput};
use crate::service::models::person;
use crate::service::queue::JobCall;
use crate::service::tasks::maintenance::Ping;
use crate::service::tasks::persons::{AddOneYear, AddOneYearArgs};

/// Stores a person through the controller, as the API does, and returns it.
pub async fn person(db: &DatabaseConnection, name: &str, age: i32) -> person::Model {
    let input = PersonInput {
        name: name.into(),
        age,
    };
    persons::create(db, input).await.expect("person created")
}

/// A call of the service's example task: one year more for a person, after a pause.
pub fn add_one_year(person_id: i64, pause_ms: u64) -> JobCall {
    JobCall::new::<AddOneYear>(AddOneYearArgs {
        person_id,
        pause_ms,
    })
    .expect("call")
}

/// A call of `tasks.ping`, which does nothing and answers `"pong"`.
pub fn ping() -> JobCall {
    JobCall::new::<Ping>(()).expect("call")
}
