//! Migration drift: the tables the migrations build match the entities in `src/models/`:
//! the same columns, the same nullability, and (on PostgreSQL) compatible types. A model
//! changed without a migration (or the reverse) fails here, not in production.
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, IdenStatic,
    Iterable, Statement,
};

use crate::service::db;
use crate::service::models::{api_key, person, task};
use crate::support::database::TestDatabase;

/// A column as the database has it: name, nullable, type.
#[derive(Debug)]
struct Column {
    name: String,
    nullable: bool,
    kind: String,
}

async fn columns(db: &sea_orm::DatabaseConnection, table: &str) -> Vec<Column> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT column_name AS name, is_nullable = 'YES' AS nullable, data_type AS kind \
             FROM information_schema.columns WHERE table_name = '{table}' \
             AND table_schema = current_schema()"
        ),
        _ => format!(
            "SELECT name, \"notnull\" = 0 AS nullable, type AS kind FROM pragma_table_info('{table}')"
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("columns");
    rows.iter()
        .map(|row| Column {
            name: row.try_get("", "name").expect("name"),
            nullable: row.try_get("", "nullable").expect("nullable"),
            kind: row
                .try_get::<String>("", "kind")
                .expect("kind")
                .to_lowercase(),
        })
        .collect()
}

/// PostgreSQL types an entity's column type may be stored as.
fn postgres_types(kind: &ColumnType) -> &'static [&'static str] {
    match kind {
        ColumnType::BigInteger => &["bigint"],
        ColumnType::Integer => &["integer"],
        ColumnType::SmallInteger => &["smallint"],
        ColumnType::String(_) | ColumnType::Text | ColumnType::Enum { .. } => {
            &["character varying", "text"]
        }
        ColumnType::Uuid => &["uuid"],
        ColumnType::Json | ColumnType::JsonBinary => &["json", "jsonb"],
        ColumnType::TimestampWithTimeZone => &["timestamp with time zone"],
        ColumnType::Timestamp | ColumnType::DateTime => &["timestamp without time zone"],
        ColumnType::Boolean => &["boolean"],
        ColumnType::Double => &["double precision"],
        ColumnType::Float => &["real"],
        ColumnType::Date => &["date"],
        _ => &[],
    }
}

fn compare<E: EntityTrait>(entity: E, found: &[Column], backend: DbBackend) -> Vec<String> {
    let table = entity.table_name();
    let mut problems = Vec::new();
    for column in E::Column::iter() {
        let name = column.as_str();
        let def = column.def();
        let Some(actual) = found.iter().find(|c| c.name == name) else {
            problems.push(format!(
                "{table}.{name}: in the model, not in the migrations"
            ));
            continue;
        };
        if actual.nullable != def.is_null() {
            problems.push(format!(
                "{table}.{name}: nullable {} in the model, {} in the database",
                def.is_null(),
                actual.nullable
            ));
        }
        let allowed = postgres_types(def.get_column_type());
        if backend == DbBackend::Postgres && !allowed.contains(&actual.kind.as_str()) {
            problems.push(format!(
                "{table}.{name}: {:?} in the model, {} in the database",
                def.get_column_type(),
                actual.kind
            ));
        }
    }
    for column in found {
        if !E::Column::iter().any(|c| c.as_str() == column.name) {
            problems.push(format!(
                "{table}.{}: in the migrations, not in the model",
                column.name
            ));
        }
    }
    problems
}

/// What differs between entity `E` and its table.
async fn drift<E: EntityTrait + Default>(db: &DatabaseConnection) -> Vec<String> {
    let entity = E::default();
    let found = columns(db, entity.table_name()).await;
    compare(entity, &found, db.get_database_backend())
}

#[tokio::test]
async fn the_migrations_build_the_tables_the_models_describe() {
    let database = TestDatabase::create().await;
    let db = Database::connect(database.url.as_str())
        .await
        .expect("connect");
    db::upgrade(&db, None).await.expect("migrations apply");
    let backend = db.get_database_backend();

    let mut problems = Vec::new();
    problems.extend(drift::<task::Entity>(&db).await);
    problems.extend(drift::<api_key::Entity>(&db).await);
    problems.extend(drift::<crate::support::service::models::person::Entity>(&db).await);
    // `cargo xtask new resource` adds the entities of new resources above this line.

    assert!(problems.is_empty(), "drift:\n{}", problems.join("\n"));
    // The comparison does see differences: a model against another table.
    let mismatched = compare(person::Entity, &columns(&db, "tasks").await, backend);
    assert!(
        mismatched
            .iter()
            .any(|p| p.contains("persons.age: in the model"))
    );
    assert!(
        mismatched
            .iter()
            .any(|p| p.contains("in the migrations, not in the model"))
    );
}
