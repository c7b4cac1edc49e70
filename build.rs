//! Build script: makes cargo rebuild when a migration is added.
//!
//! `sqlx::migrate!` embeds `migrations/` at compile time but does not tell
//! cargo to watch it: without this, a new migration file would not be picked
//! up until some Rust file changed (the sqlx documentation recommends this).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
