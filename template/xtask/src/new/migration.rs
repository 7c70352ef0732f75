//! `new migration NAME`: an empty migration (`xtask/templates/migration/`), registered to
//! run after the others. Also names the migrations the resource generator writes.
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::template::{self, Templates};
use crate::names;
use crate::plan::Plan;
use crate::project::Project;

/// When a new migration is stamped.
#[derive(Debug, Clone, Copy)]
pub enum Stamp {
    /// At this time (seconds since the epoch, now), or just after the latest migration
    /// when that is later: migrations run in the order of their stamps.
    Now(u64),
    /// At exactly this time, among the others: for the tests, which regenerate the
    /// project's own migrations.
    #[cfg_attr(not(test), expect(dead_code, reason = "the tests stamp migrations"))]
    At(u64),
}

impl Stamp {
    /// Now, by the system's clock.
    pub fn now() -> Self {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        Self::Now(seconds)
    }
}

#[derive(Serialize)]
struct Context {
    migration: String,
}

/// Plans `migration/src/m{timestamp}_{name}.rs` with an empty `up` and `down`.
pub fn plan(project: &Project, name: &str, stamp: Stamp) -> Result<Plan, String> {
    let context = Context {
        migration: module_name(project, name, stamp)?,
    };
    let templates = Templates::load(&project.root, "migration")?;
    let mut plan = Plan::new(&project.root);
    template::plan(&mut plan, templates.render(&context)?)?;
    Ok(plan)
}

/// The module of new migration `name` (`m20260101_120000_name`), checked against the
/// migrations there are.
pub fn module_name(project: &Project, name: &str, stamp: Stamp) -> Result<String, String> {
    names::check_identifier(name, "migration name")?;
    let existing = project.modules("migration/src");
    if let Some(same) = existing.iter().find(|module| name_of(module) == Some(name)) {
        return Err(format!(
            "a migration named {name:?} exists already: migration/src/{same}.rs"
        ));
    }
    // Later than every migration, even with a clock behind or two migrations in one
    // second: they run in the order of the list, which is also the names' order.
    let latest = existing.iter().filter_map(|m| seconds_of(m)).max();
    let seconds = match stamp {
        Stamp::Now(now) => match latest {
            Some(latest) if latest >= now => latest + 1,
            _ => now,
        },
        Stamp::At(seconds) => seconds,
    };
    Ok(format!("m{}_{name}", timestamp(seconds)))
}

/// `name` of a module `m20250101_000001_name`.
fn name_of(module: &str) -> Option<&str> {
    let rest = module.strip_prefix('m')?;
    let (_, name) = rest.split_at_checked(15)?;
    name.strip_prefix('_')
}

/// The time of a module `mYYYYMMDD_HHMMSS_name`, in seconds since the epoch.
pub fn seconds_of(module: &str) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn migrations_are_planned_in_order_and_names_are_checked() {
        let project = Project::locate().expect("the project");
        // A clock behind the last migration still orders the new one after it.
        let planned = plan(&project, "add_email", Stamp::Now(0)).expect("planned");
        let lib = planned
            .text("migration/src/lib.rs")
            .expect("lib.rs planned");
        let module = lib
            .lines()
            .find_map(|line| line.strip_prefix("mod ")?.strip_suffix("_add_email;"))
            .expect("registered");
        assert!(module > "m20250101_000002", "{module}");
        let entries: Vec<&str> = lib
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("Box::new(m"))
            .collect();
        assert_eq!(
            entries.last().copied(),
            Some(format!("Box::new({module}_add_email::Migration),").as_str()),
            "runs last"
        );
        let file = planned
            .text(&format!("migration/src/{module}_add_email.rs"))
            .expect("file");
        assert!(file.contains("async fn up") && file.contains("async fn down"));

        // A migration stamped at a given time goes where that time puts it.
        let at = seconds_of("m20250101_000001_x").expect("a stamp") - 1;
        let planned = plan(&project, "earlier", Stamp::At(at)).expect("planned");
        let lib = planned
            .text("migration/src/lib.rs")
            .expect("lib.rs planned");
        let order = |text: &str| lib.find(text).expect(text);
        assert!(order("mod m20250101_000000_earlier;") < order("mod m20250101_000001"));
        assert!(order("(m20250101_000000_earlier::") < order("(m20250101_000001"));

        for (name, says) in [
            ("Add-Email", "snake_case"),
            ("1st", "snake_case"),
            ("", "snake_case"),
            ("create_persons", "exists already"),
            ("match", "keyword"),
        ] {
            let error = plan(&project, name, Stamp::now()).err().unwrap_or_default();
            assert!(error.contains(says), "{name}: {error}");
        }
    }
}
