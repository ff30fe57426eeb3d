//! Actions: one function for each thing an operator or a trigger does. An action opens the
//! transaction and writes the fact, its audit row and any notice it causes together; the web
//! pages, the REST API, the CLI and the importers parse their input into domain types, call the
//! action and render what it answers. None of them opens a transaction or writes an audit row
//! itself (`scripts/check-boundaries` keeps count of those that still do).

pub mod logins;
pub mod payments;
