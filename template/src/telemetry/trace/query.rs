//! A client span per SQL statement run inside a recorded span: `SELECT persons`, with the
//! database system, the kind of statement and its table; never the statement's text or its
//! values. sea-orm reports each statement once it ran ([`record`], installed by
//! `db::connect` when tracing is on); statements run outside any traced span (the task
//! engine's batched writes) make no span.
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Status};
use sea_orm::DbBackend;
use sea_orm::metric::Info;

use super::layer::Recording;
use super::{SHARED, with_traced};

/// Records the statement `info` describes as a child of the current span, if that span is
/// recorded.
pub fn record(info: &Info<'_>) {
    let Some(shared) = SHARED.get() else { return };
    let Some(parent) = with_traced(&tracing::Span::current(), |traced| traced.context.clone())
    else {
        return;
    };
    if !parent.is_sampled() {
        return;
    }
    let (context, _) = shared.child_of(Some(&parent));
    let end = SystemTime::now();
    let start = end.checked_sub(info.elapsed).unwrap_or(end);
    let (operation, table) = summary(&info.statement.sql);
    let name = match table {
        Some(table) => format!("{operation} {table}"),
        None => operation.to_owned(),
    };
    let mut recording = Recording::new(SpanKind::Client, name.into(), start);
    let system = match info.statement.db_backend {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        _ => "mysql",
    };
    recording.attributes = vec![
        KeyValue::new("db.system.name", system),
        KeyValue::new("db.operation.name", operation.to_owned()),
    ];
    if let Some(table) = table {
        recording
            .attributes
            .push(KeyValue::new("db.collection.name", table.to_owned()));
    }
    if info.failed {
        recording.status = Status::error("the statement failed");
    }
    shared
        .queue
        .push(shared.finished(context, Some(&parent), recording, end));
}

/// The statement's kind (its first keyword, upper case) and the table it names first
/// after `FROM`, `INTO` or `UPDATE`, unquoted: `("SELECT", Some("persons"))`.
pub fn summary(sql: &str) -> (&'static str, Option<&str>) {
    const KINDS: [&str; 10] = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "CREATE",
        "ALTER",
    ];
    let mut words = sql.split(|c: char| c.is_whitespace() || c == ',' || c == ';');
    let first = words.find(|word| !word.is_empty()).unwrap_or_default();
    let kind = KINDS
        .iter()
        .find(|kind| first.eq_ignore_ascii_case(kind))
        .copied()
        .unwrap_or("SQL");
    let mut previous = first;
    for word in words.filter(|word| !word.is_empty()) {
        if ["FROM", "INTO", "UPDATE"]
            .iter()
            .any(|keyword| previous.eq_ignore_ascii_case(keyword))
        {
            return (kind, table_name(word));
        }
        previous = word;
    }
    (kind, None)
}

/// `"public"."persons"` → `public.persons`; `None` for what is not a plain name (a
/// subquery, a parenthesis).
fn table_name(word: &str) -> Option<&str> {
    let name = word.split('(').next().unwrap_or_default();
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '"' | '`');
    if name.is_empty() || !name.chars().all(plain) {
        return None;
    }
    let unquoted = name.trim_matches(|c| c == '"' || c == '`');
    (!unquoted.is_empty() && !unquoted.contains('"')).then_some(unquoted)
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn a_statement_is_summed_up_by_its_kind_and_table() {
        for (sql, expected) in [
            (
                r#"SELECT "persons"."id", "persons"."name" FROM "persons" WHERE "persons"."id" = $1 LIMIT $2"#,
                ("SELECT", Some("persons")),
            ),
            (
                r#"INSERT INTO "tasks" ("id", "name") VALUES ($1, $2), ($3, $4)"#,
                ("INSERT", Some("tasks")),
            ),
            (
                r#"UPDATE "persons" SET "age" = "age" + $1 WHERE "id" = $2 RETURNING *"#,
                ("UPDATE", Some("persons")),
            ),
            (
                "delete from public.tasks where id = 'secret'",
                ("DELETE", Some("public.tasks")),
            ),
            ("SELECT 1", ("SELECT", None)),
            (
                "SELECT count(*) FROM (SELECT * FROM tasks) AS t",
                ("SELECT", None),
            ),
            ("VACUUM", ("SQL", None)),
            ("", ("SQL", None)),
        ] {
            assert_eq!(summary(sql), expected, "{sql}");
        }
    }
}
