//! A layout: the words of one kind of message (subject, HTML and text templates), as stored
//! and as an editor saves it. Rendering is `crate::layouts`'s.

use super::{LayoutId, Purpose};

/// A stored layout at its current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Key.
    pub id: LayoutId,
    /// Unique name, shown in pickers.
    pub name: String,
    /// What it is for.
    pub purpose: Purpose,
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Text body template; empty means "derived from the HTML".
    pub text: String,
    /// SMS text template; empty means "the company's name and the subject".
    pub sms: String,
    /// Grows by one on every save; notices record the version they were rendered with.
    pub version: i64,
    /// The built-in layout it was installed from, if any (for "restaurar padrão").
    pub default_of: Option<Purpose>,
}

/// What an editor saves: a new layout or a new version of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutDraft {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub purpose: Purpose,
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Text body template, or empty to derive it from the HTML.
    pub text: String,
    /// SMS text template, or empty for the company's name and the subject.
    pub sms: String,
}
