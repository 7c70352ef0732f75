//! Creating, reading, changing and deleting persons.
use std::sync::OnceLock;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement, Value,
};

use super::{Checks, Error, FieldError, Page, Paged};
use crate::models::person::{self, Entity as Person};

/// Longest accepted name, in characters (the column holds 200).
pub const NAME_MAX_CHARS: usize = 200;
/// Youngest accepted age.
pub const AGE_MIN: i32 = 0;
/// Oldest accepted age.
pub const AGE_MAX: i32 = 150;

/// Every field of a person, as given to create or replace one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonInput {
    pub name: String,
    pub age: i32,
}

/// Some fields of a person, as given to change one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonChanges {
    pub name: Option<String>,
    pub age: Option<i32>,
}

impl PersonChanges {
    /// Checks the fields that are present; a trimmed name is kept.
    fn validate(mut self) -> Result<Self, Error> {
        let mut checks = Checks::default();
        if let Some(name) = &self.name {
            self.name = Some(checks.text("name", name, NAME_MAX_CHARS));
        }
        if let Some(age) = self.age {
            checks.range("age", age, AGE_MIN, AGE_MAX);
        }
        checks.finish()?;
        Ok(self)
    }
}

impl From<PersonInput> for PersonChanges {
    fn from(input: PersonInput) -> Self {
        Self {
            name: Some(input.name),
            age: Some(input.age),
        }
    }
}

/// The SQL of a read behind a busy route, written by sea-query once per backend instead of
/// on every request; the values are bound per call, in the order `build` gives them.
struct CachedSql {
    build: fn(DbBackend) -> Statement,
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

impl CachedSql {
    const fn new(build: fn(DbBackend) -> Statement) -> Self {
        Self {
            build,
            postgres: OnceLock::new(),
            sqlite: OnceLock::new(),
        }
    }

    fn statement<const N: usize>(&self, backend: DbBackend, values: [Value; N]) -> Statement {
        let cell = match backend {
            DbBackend::Postgres => &self.postgres,
            DbBackend::Sqlite => &self.sqlite,
            _ => return Statement::from_sql_and_values(backend, (self.build)(backend).sql, values),
        };
        let sql = cell.get_or_init(|| (self.build)(backend).sql).clone();
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// A person by id (the primary key): the id.
static BY_ID: CachedSql = CachedSql::new(|backend| Person::find_by_id(0).build(backend));

/// A page of persons by id: the limit, then the offset.
static PAGE: CachedSql = CachedSql::new(|backend| {
    Person::find()
        .order_by_asc(person::Column::Id)
        .limit(0)
        .offset(0)
        .build(backend)
});

fn not_found(id: i64) -> Error {
    Error::NotFound {
        resource: "person",
        id: id.to_string(),
    }
}

/// Creates a person.
pub async fn create(db: &DatabaseConnection, input: PersonInput) -> Result<person::Model, Error> {
    let checked = PersonChanges::from(input).validate()?;
    let now = Utc::now();
    let row = person::ActiveModel {
        name: Set(checked.name.unwrap_or_default()),
        age: Set(checked.age.unwrap_or_default()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

/// Finds a person by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<person::Model, Error> {
    let statement = BY_ID.statement(db.get_database_backend(), [id.into()]);
    Person::find()
        .from_raw_sql(statement)
        .one(db)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Lists persons by id, one page at a time.
pub async fn list(db: &DatabaseConnection, page: Page) -> Result<Paged<person::Model>, Error> {
    let offset = (page.number.saturating_sub(1)).saturating_mul(page.per_page);
    // One row more than asked tells whether a next page exists without counting.
    let values = [(page.per_page + 1).into(), offset.into()];
    let statement = PAGE.statement(db.get_database_backend(), values);
    let mut items = Person::find().from_raw_sql(statement).all(db).await?;
    let has_next = items.len() as u64 > page.per_page;
    items.truncate(page.per_page as usize);
    Ok(Paged {
        items,
        page,
        has_next,
    })
}

/// Replaces every field of a person.
pub async fn replace(
    db: &DatabaseConnection,
    id: i64,
    input: PersonInput,
) -> Result<person::Model, Error> {
    update(db, id, input.into()).await
}

/// Changes the given fields of a person.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    changes: PersonChanges,
) -> Result<person::Model, Error> {
    let changes = changes.validate()?;
    let mut row = get(db, id).await?.into_active_model();
    if let Some(name) = changes.name {
        row.name = Set(name);
    }
    if let Some(age) = changes.age {
        row.age = Set(age);
    }
    row.updated_at = Set(Utc::now());
    match row.update(db).await {
        // Deleted between the read and the write.
        Err(DbErr::RecordNotUpdated) => Err(not_found(id)),
        result => Ok(result?),
    }
}

/// Deletes a person.
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<(), Error> {
    let result = Person::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Adds `years` to a person's age in one statement, safe against concurrent changes.
pub async fn add_years(
    db: &impl ConnectionTrait,
    id: i64,
    years: i32,
) -> Result<person::Model, Error> {
    let mut updated = Person::update_many()
        .col_expr(
            person::Column::Age,
            Expr::col(person::Column::Age).add(years),
        )
        .col_expr(person::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(person::Column::Id.eq(id))
        .filter(person::Column::Age.lte(AGE_MAX - years))
        .exec_with_returning(db)
        .await?;
    match updated.pop() {
        Some(person) => Ok(person),
        None => {
            // Not updated: missing (404), or too old to add to.
            get(db, id).await?;
            Err(Error::Invalid(vec![FieldError::new(
                "age",
                format!("must stay at most {AGE_MAX}"),
            )]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_fields(result: Result<PersonChanges, Error>) -> Vec<&'static str> {
        match result {
            Err(Error::Invalid(errors)) => errors.iter().map(|e| e.field).collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn cached_statements_are_what_sea_query_builds() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            assert_eq!(
                BY_ID.statement(backend, [7_i64.into()]),
                Person::find_by_id(7).build(backend)
            );
            let page = Person::find()
                .order_by_asc(person::Column::Id)
                .limit(21)
                .offset(40)
                .build(backend);
            assert_eq!(
                PAGE.statement(backend, [21_u64.into(), 40_u64.into()]),
                page
            );
        }
    }

    #[test]
    fn a_blank_name_is_rejected() {
        let changes = PersonChanges {
            name: Some("   ".into()),
            age: None,
        };
        assert_eq!(invalid_fields(changes.validate()), ["name"]);
    }

    #[test]
    fn control_characters_in_a_name_are_rejected() {
        for name in ["a\u{0}b", "tab\there", "line\nbreak"] {
            let changes = PersonChanges {
                name: Some(name.into()),
                age: None,
            };
            assert_eq!(invalid_fields(changes.validate()), ["name"], "{name:?}");
        }
    }

    #[test]
    fn a_too_long_name_is_rejected() {
        let changes = PersonChanges {
            name: Some("x".repeat(NAME_MAX_CHARS + 1)),
            age: None,
        };
        assert_eq!(invalid_fields(changes.validate()), ["name"]);
    }

    #[test]
    fn ages_outside_the_range_are_rejected() {
        for age in [-1, AGE_MAX + 1, i32::MIN, i32::MAX] {
            let changes = PersonChanges {
                name: None,
                age: Some(age),
            };
            assert_eq!(invalid_fields(changes.validate()), ["age"], "age {age}");
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let input = PersonInput {
            name: String::new(),
            age: -3,
        };
        assert_eq!(
            invalid_fields(PersonChanges::from(input).validate()),
            ["name", "age"]
        );
    }

    #[test]
    fn names_are_trimmed() {
        let input = PersonInput {
            name: "  Ada Lovelace ".into(),
            age: 36,
        };
        let checked = PersonChanges::from(input).validate().expect("valid");
        assert_eq!(checked.name.as_deref(), Some("Ada Lovelace"));
    }
}
