//! sqlx errors → [`StoreError`], keeping the cause.

use sqlx::error::DatabaseError;

use crate::{StoreError, StoreErrorKind};

/// Classifies a sqlx error:
///
/// * the database cannot be reached, the pool is closed or timed out, or the
///   server refuses service (shutting down, too many connections, SQLite busy
///   past its timeout, disk full) → [`StoreErrorKind::Unavailable`];
/// * a unique index refused a row → [`StoreErrorKind::Conflict`];
/// * a column cannot be decoded → [`StoreErrorKind::Corrupt`];
/// * anything else → [`StoreErrorKind::Other`].
pub(super) fn db_error(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match &e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            StoreError::unavailable(e)
        }
        E::Database(db) if db.is_unique_violation() => StoreError::new(
            StoreErrorKind::Conflict,
            "a record with this id or digest exists",
            Some(Box::new(e)),
        ),
        E::Database(db) if refuses_service(&**db) => StoreError::unavailable(e),
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. } => StoreError::new(
            StoreErrorKind::Corrupt,
            "a stored row cannot be decoded",
            Some(Box::new(e)),
        ),
        _ => StoreError::other(e),
    }
}

/// Migration failures: a database error inside keeps its classification.
pub(super) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => db_error(e),
        other => StoreError::other(other),
    }
}

/// Whether a database error says "not now" rather than "not this".
fn refuses_service(db: &dyn DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // The primary result code is the low byte of the extended one:
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
        let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
        return matches!(code & 0xff, 5 | 6 | 10 | 13 | 14);
    }
    #[cfg(feature = "postgres")]
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // Class 08 (connection exception), 57P01-57P03 (shutting down,
        // cannot connect now), 53300 (too many connections).
        let code = db.code().unwrap_or_default();
        return code.starts_with("08") || code.starts_with("57P") || code == "53300";
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            let s = db_error(e);
            assert_eq!(s.kind(), StoreErrorKind::Unavailable);
            assert!(std::error::Error::source(&s).is_some(), "the cause is kept");
        }
        assert_eq!(
            db_error(sqlx::Error::RowNotFound).kind(),
            StoreErrorKind::Other
        );
        assert_eq!(
            db_error(sqlx::Error::ColumnNotFound("x".into())).kind(),
            StoreErrorKind::Corrupt
        );
    }
}
