//! The reads behind a resource's busiest routes (one row by id, a page of rows by id), with
//! their SQL written by sea-query once per backend instead of on every request.
//!
//! A controller keeps one [`Reads`] in a `static` and calls `READS.by_id(db, id)` where it
//! would call `Entity::find_by_id(id).one(db)`, and `READS.page(db, offset, limit)` for a
//! page in id order.
//!
//! Batched writes list a varying number of rows; [`padded`] pads such a list to one of a
//! few sizes, so that their statements stay prepared.
use std::marker::PhantomData;
use std::sync::OnceLock;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, Iterable, PrimaryKeyToColumn,
    PrimaryKeyTrait, QueryOrder, QuerySelect, QueryTrait, Statement, Value,
};

/// The SQL of an entity's reads by id, built on first use for each backend.
pub struct Reads<E> {
    by_id: Cached,
    page: Cached,
    entity: PhantomData<fn() -> E>,
}

impl<E> Reads<E>
where
    E: EntityTrait,
    i64: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    /// Nothing built yet: the first call on each backend builds its statement.
    pub const fn new() -> Self {
        Self {
            by_id: Cached::new(by_id::<E>),
            page: Cached::new(page::<E>),
            entity: PhantomData,
        }
    }

    /// The row whose primary key is `id`, as `E::find_by_id(id).one(db)` reads it.
    pub async fn by_id(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
    ) -> Result<Option<E::Model>, DbErr> {
        let statement = self.by_id_statement(db.get_database_backend(), id);
        E::Model::find_by_statement(statement).one(db).await
    }

    /// At most `limit` rows in primary key order after the first `offset`, as
    /// `E::find().order_by_asc(key).offset(offset).limit(limit).all(db)` reads them.
    pub async fn page(
        &self,
        db: &impl ConnectionTrait,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<E::Model>, DbErr> {
        let statement = self.page_statement(db.get_database_backend(), offset, limit);
        E::Model::find_by_statement(statement).all(db).await
    }

    fn by_id_statement(&self, backend: DbBackend, id: i64) -> Statement {
        self.by_id.statement(backend, [Value::from(id)])
    }

    fn page_statement(&self, backend: DbBackend, offset: u64, limit: u64) -> Statement {
        // In the order `page` binds them: the limit, then the offset.
        self.page.statement(backend, [limit.into(), offset.into()])
    }
}

impl<E> Default for Reads<E>
where
    E: EntityTrait,
    i64: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    fn default() -> Self {
        Self::new()
    }
}

fn by_id<E>(backend: DbBackend) -> Statement
where
    E: EntityTrait,
    i64: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    E::find_by_id(0).build(backend)
}

fn page<E: EntityTrait>(backend: DbBackend) -> Statement {
    let mut select = E::find();
    for key in E::PrimaryKey::iter() {
        select = select.order_by_asc(key.into_column());
    }
    select.limit(0).offset(0).build(backend)
}

/// One statement's SQL per backend; its values are bound per call, in the order `build`
/// gives them.
struct Cached {
    build: fn(DbBackend) -> Statement,
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

impl Cached {
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
            // MySQL, not a backend the service runs on: built each time, still right.
            _ => {
                return Statement::from_sql_and_values(backend, (self.build)(backend).sql, values);
            }
        };
        let sql = cell.get_or_init(|| (self.build)(backend).sql).clone();
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// `items` with its last item repeated up to the next power of two ([`padded_len`]).
/// Batched statements list a varying number of values, and each count is a statement of
/// its own to prepare and cache per connection: padded, a few sizes serve every batch and
/// stay prepared. Repeating a value changes no `IN (...)` list's meaning.
pub fn padded<T: Clone>(items: &[T]) -> Vec<T> {
    let mut padded = Vec::with_capacity(padded_len(items.len()));
    padded.extend_from_slice(items);
    if let Some(last) = items.last() {
        padded.resize(padded_len(items.len()), last.clone());
    }
    padded
}

/// The length [`padded`] pads a list of `len` items to.
pub fn padded_len(len: usize) -> usize {
    len.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, QueryOrder, QuerySelect, QueryTrait};

    use super::*;

    #[test]
    fn lists_are_padded_with_their_last_item_to_a_power_of_two() {
        assert_eq!(padded(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4]), [1, 2, 3, 4]);
        assert_eq!(padded(&[7]), [7]);
        assert!(padded::<u8>(&[]).is_empty());
        assert_eq!(padded_len(5), 8);
    }

    mod row {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "rows")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    static READS: Reads<row::Entity> = Reads::new();

    #[test]
    fn the_cached_statements_are_the_ones_sea_orm_builds() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite, DbBackend::MySql] {
            for id in [1_i64, 42] {
                let built = row::Entity::find_by_id(id).build(backend);
                assert_eq!(READS.by_id_statement(backend, id), built);
            }
            for (offset, limit) in [(0, 21), (40, 11)] {
                let built = row::Entity::find()
                    .order_by_asc(row::Column::Id)
                    .offset(offset)
                    .limit(limit)
                    .build(backend);
                assert_eq!(READS.page_statement(backend, offset, limit), built);
            }
        }
    }
}
