//! Creating, reading, changing and deleting persons (`cargo xtask new resource`
//! wrote this file; it is yours to change).
use chrono::Utc;
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};

use super::{Checks, Error, Page, Paged, is_foreign_key_violation};
use crate::models::person::{self, Entity as Person};
use crate::platform::sql::Reads;

/// The SQL of `get` and `list`, built once rather than on every request.
static READS: Reads<Person> = Reads::new();

/// Longest accepted `name`, in characters (the column holds 200).
pub const NAME_MAX_CHARS: usize = 200;

/// Smallest accepted `age`.
pub const AGE_MIN: i32 = 0;
/// Largest accepted `age`.
pub const AGE_MAX: i32 = 150;

/// Every field of a person, as given to create or replace one.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonInput {
    pub name: String,
    pub age: i32,
}

/// Some fields of a person, as given to change one: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonChanges {
    pub name: Option<String>,
    pub age: Option<i32>,
}

impl From<PersonInput> for PersonChanges {
    fn from(input: PersonInput) -> Self {
        Self {
            name: Some(input.name),
            age: Some(input.age),
        }
    }
}

impl PersonChanges {
    /// Checks the fields given, all of them (every bad field is reported at once), and
    /// returns them as the changes of a row: the fields not given stay unset.
    fn check(self) -> Result<person::ActiveModel, Error> {
        let mut checks = Checks::default();
        let mut row: person::ActiveModel = Default::default();
        if let Some(name) = self.name {
            row.name = Set(checks.text("name", &name, NAME_MAX_CHARS));
        }
        if let Some(age) = self.age {
            checks.range("age", age, AGE_MIN, AGE_MAX);
            row.age = Set(age);
        }
        checks.finish()?;
        Ok(row)
    }
}

fn not_found(id: i64) -> Error {
    Error::NotFound {
        resource: "person",
        id: id.to_string(),
    }
}

/// Creates a person.
pub async fn create(db: &DatabaseConnection, input: PersonInput) -> Result<person::Model, Error> {
    let mut row = PersonChanges::from(input).check()?;
    let now = Utc::now();
    row.created_at = Set(now);
    row.updated_at = Set(now);
    Ok(row.insert(db).await?)
}

/// Finds a person by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<person::Model, Error> {
    READS.by_id(db, id).await?.ok_or_else(|| not_found(id))
}

/// Lists persons by id, one page at a time.
pub async fn list(db: &DatabaseConnection, page: Page) -> Result<Paged<person::Model>, Error> {
    let rows = READS.page(db, page.offset(), page.rows_to_fetch()).await?;
    Ok(Paged::from_rows(rows, page))
}

/// Replaces every field of a person.
pub async fn replace(
    db: &DatabaseConnection,
    id: i64,
    input: PersonInput,
) -> Result<person::Model, Error> {
    update(db, id, input.into()).await
}

/// Changes the given fields of a person, in one statement.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    changes: PersonChanges,
) -> Result<person::Model, Error> {
    let mut row = changes.check()?;
    row.id = Unchanged(id);
    row.updated_at = Set(Utc::now());
    match row.update(db).await {
        // No such row (or deleted meanwhile).
        Err(DbErr::RecordNotUpdated) => Err(not_found(id)),
        result => Ok(result?),
    }
}

/// Deletes a person; one that other rows still refer to stays (a conflict).
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<(), Error> {
    let result = match Person::delete_by_id(id).exec(db).await {
        Err(error) if is_foreign_key_violation(&error) => {
            return Err(Error::Conflict {
                code: "still_referenced",
                message: format!("person {id} is still referred to by other rows"),
            });
        }
        result => result?,
    };
    if result.rows_affected == 0 {
        return Err(not_found(id));
    }
    Ok(())
}
