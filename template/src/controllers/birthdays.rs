//! A person's birthday: a year more on the age, kept apart from the persons' own
//! controller (which `cargo xtask new resource` wrote).
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::persons::{self, AGE_MAX};
use super::{Error, FieldError};
use crate::models::person::{self, Entity as Person};

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
            persons::get(db, id).await?;
            Err(Error::Invalid(vec![FieldError::new(
                "age",
                format!("must stay at most {AGE_MAX}"),
            )]))
        }
    }
}
