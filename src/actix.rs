//! The actix-web 4 adapter (feature `actix`). Being written.
