//! `new migration NAME`: an empty migration, registered to run after the others.
use std::time::{SystemTime, UNIX_EPOCH};

use crate::names;
use crate::plan::Plan;
use crate::project::Project;

const LIB: &str = "migration/src/lib.rs";
const EMPTY: &str = include_str!("../../templates/migration.rs.txt");

/// Plans `migration/src/m{timestamp}_{name}.rs` with an empty `up` and `down`.
pub fn plan(project: &Project, name: &str) -> Result<Plan, String> {
    let mut plan = Plan::new(&project.root);
    add(&mut plan, project, name, EMPTY.to_owned(), now())?;
    Ok(plan)
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Adds migration `name` with `text` to `plan` and registers it last in
/// `migration/src/lib.rs`; returns its module name (`m20260101_120000_name`).
pub fn add(
    plan: &mut Plan,
    project: &Project,
    name: &str,
    text: String,
    now: u64,
) -> Result<String, String> {
    names::check_identifier(name, "migration name")?;
    let existing = project.modules("migration/src");
    if let Some(same) = existing.iter().find(|module| name_of(module) == Some(name)) {
        return Err(format!(
            "a migration named {name:?} exists already: migration/src/{same}.rs"
        ));
    }
    // Later than every registered migration, even with a clock behind or two migrations
    // in one second: they run in the order of the list, which is also the names' order.
    let latest = existing.iter().filter_map(|m| seconds_of(m)).max();
    let seconds = match latest {
        Some(latest) if latest >= now => latest + 1,
        _ => now,
    };
    let module = format!("m{}_{name}", timestamp(seconds));
    plan.create(&format!("migration/src/{module}.rs"), text)?;
    plan.edit(LIB, |lib| {
        register(lib, &module).ok_or_else(|| {
            format!(
                "{LIB} has no `mod m...;` line and `vec![...]` in `fn migrations()` to add {module} to"
            )
        })
    })?;
    Ok(module)
}

/// `name` of a module `m20250101_000001_name`.
fn name_of(module: &str) -> Option<&str> {
    let rest = module.strip_prefix('m')?;
    let (_, name) = rest.split_at_checked(15)?;
    name.strip_prefix('_')
}

/// The time of a module `mYYYYMMDD_HHMMSS_name`, in seconds since the epoch.
fn seconds_of(module: &str) -> Option<u64> {
    let stamp = module.strip_prefix('m')?.get(..15)?;
    let number = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<u64>().ok();
    if stamp.as_bytes().get(8) != Some(&b'_') {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let days = days_from_civil(year as i64, month as i64, day as i64);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// `YYYYMMDD_HHMMSS` in UTC.
pub fn timestamp(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}_{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day count from 1970-01-01 of a date (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * mp + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Adds `mod {module};` after the last migration module and its entry at the end of the
/// `vec![...]` in `migrations()`.
fn register(lib: &str, module: &str) -> Option<String> {
    let body = lib.find("fn migrations()")?;
    let open = body + lib[body..].find("vec![")? + "vec![".len();
    let close = open + lib[open..].find(']')?;
    let mut entries: Vec<String> = lib[open..close]
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    entries.push(format!("Box::new({module}::Migration)"));
    let list: String = entries
        .iter()
        .map(|entry| format!("\n            {entry},"))
        .collect();
    let patched = format!("{}{list}\n        {}", &lib[..open], &lib[close..]);

    let mut lines: Vec<String> = patched.lines().map(str::to_owned).collect();
    let last_mod = lines
        .iter()
        .rposition(|line| line.trim_start().starts_with("mod m"))?;
    lines.insert(last_mod + 1, format!("mod {module};"));
    Some(lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB_TEXT: &str = include_str!("../../../migration/src/lib.rs");

    #[test]
    fn timestamps_are_utc_dates_and_times() {
        assert_eq!(timestamp(0), "19700101_000000");
        assert_eq!(timestamp(1_767_225_600), "20260101_000000");
        assert_eq!(timestamp(951_782_400 + 3661), "20000229_010101");
        for module in ["m20250101_000001_create_persons", "m20000229_235959_x"] {
            let seconds = seconds_of(module).expect(module);
            assert_eq!(format!("m{}", timestamp(seconds)), module[..16]);
        }
        assert_eq!(
            name_of("m20250101_000001_create_persons"),
            Some("create_persons")
        );
        assert_eq!(seconds_of("mod"), None);
    }

    #[test]
    fn a_new_migration_is_registered_last() {
        let patched = register(LIB_TEXT, "m20260101_000000_add_email").expect("registered");
        assert!(patched.contains("mod m20260101_000000_add_email;\n"));
        assert!(patched.contains("Box::new(m20260101_000000_add_email::Migration),"));
        let first = patched
            .find("create_persons::Migration")
            .expect("old entry kept");
        let second = patched.find("add_email::Migration").expect("new entry");
        assert!(first < second, "new migrations run last");
        assert_eq!(register("no list here", "m1"), None);
    }

    #[test]
    fn migrations_are_planned_in_order_and_names_are_checked() {
        let project = Project::locate().expect("the project");
        let mut plan = Plan::new(&project.root);
        // A clock behind the last migration still orders the new one after it.
        let module = add(&mut plan, &project, "add_email", EMPTY.into(), 0).expect("planned");
        assert!(
            module.ends_with("_add_email") && module > "m20250101_000002".into(),
            "{module}"
        );
        let lib = plan.text(LIB).expect("lib.rs planned");
        assert!(lib.contains(&format!("Box::new({module}::Migration)")));
        let file = plan
            .text(&format!("migration/src/{module}.rs"))
            .expect("file");
        assert!(file.contains("async fn up") && file.contains("async fn down"));

        let mut plan = Plan::new(&project.root);
        for (name, says) in [
            ("Add-Email", "snake_case"),
            ("1st", "snake_case"),
            ("", "snake_case"),
            ("create_persons", "exists already"),
            ("match", "keyword"),
        ] {
            let error = add(&mut plan, &project, name, EMPTY.into(), now()).unwrap_err();
            assert!(error.contains(says), "{name}: {error}");
        }
    }
}
