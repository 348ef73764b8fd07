//! The on-disk cache, as a layer of its own under the driver (as rustc keeps its in
//! `rustc_incremental::persist`): the content-addressed store of objects and link units
//! (`store`), the per-program file index (`index`), the size cap and the `mini cache`
//! commands (`gc`), the shared remote tier (`remote`), and the shell's part of every key
//! (`identity`). It knows files, bytes and keys — nothing of the driver, the database's
//! sessions or the command line: the driver tells it what to keep and asks what it has.

pub mod gc;
pub mod identity;
pub mod index;
pub mod remote;
pub mod store;
