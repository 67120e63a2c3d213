//! Matching keys: canonical forms of phone numbers, postcodes, names,
//! addresses and locations, so that the same person or place written
//! different ways compares equal.

pub mod address;
pub mod geo;
pub mod name;
pub mod phone;
pub mod postcode;

pub use address::{normalise_address, AddressError, AddressLine};
pub use geo::{from_i64, to_i64, GeoError, GeoPoint, CELL_RESOLUTION, MAX_CELLS_RADIUS_M};
pub use name::{normalise_name, soundex, NameError, PersonName};
pub use phone::{PhoneError, PhoneNumber};
pub use postcode::{parse_partial, Postcode, PostcodeError};
