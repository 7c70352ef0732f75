//! An API key for machines, made by `keys create`: its hash, never the key itself.
use sea_orm::entity::prelude::*;

/// A row of the `api_keys` table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique; the caller's name in logs and on the tasks it schedules (`key:NAME`).
    #[sea_orm(unique)]
    pub name: String,
    /// The key's public start, shown by `keys list` and used to look it up.
    #[sea_orm(unique)]
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
    /// Permissions, space-separated.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// Written in batches (`auth.api_keys.last_used_flush_secs`), not on every request.
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
