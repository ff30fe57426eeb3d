//! Who caused a change or a notice: a staff user, an integration's API key, an operator at the
//! command line, a subscriber in the portal, a routine of the scheduler, the importer or the
//! demo. It is written into the audit trail and onto every notice (the log's "causado por") as
//! its `Display` text, which is the one place that text is made.

use std::fmt;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A staff user of the admin UI, by login: `user: LOGIN`.
    User(String),
    /// An integration, by its API key's name: `api: NAME`.
    Api(String),
    /// An operator at the command line, by the shell's user: `cli: USER`.
    Cli(String),
    /// A subscriber in the Central do Assinante, by customer code: `portal: CODE`.
    Portal(String),
    /// A routine of the scheduler, by name: `routine: NAME`.
    Routine(String),
    /// A PSP's PIX webhook, by the PSP's name: `pix: NAME`.
    Psp(String),
    /// A CSV import from the ERP: `import`.
    Import,
    /// A bounce read back (a suppression it caused): `bounce`.
    Bounce,
    /// A subscriber's WhatsApp message or Meta's receipt (an opt-out, a number marked
    /// unusable): `whatsapp`.
    Whatsapp,
    /// `regua demo`: `demo`.
    Demo,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(login) => write!(f, "user: {login}"),
            Actor::Api(name) => write!(f, "api: {name}"),
            Actor::Cli(user) => write!(f, "cli: {user}"),
            Actor::Portal(code) => write!(f, "portal: {code}"),
            Actor::Routine(name) => write!(f, "routine: {name}"),
            Actor::Psp(name) => write!(f, "pix: {name}"),
            Actor::Import => f.write_str("import"),
            Actor::Bounce => f.write_str("bounce"),
            Actor::Whatsapp => f.write_str("whatsapp"),
            Actor::Demo => f.write_str("demo"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Actor;

    #[test]
    fn each_actor_reads_as_the_log_has_always_shown_it() {
        for (actor, text) in [
            (Actor::User("ana".into()), "user: ana"),
            (Actor::Api("erp".into()), "api: erp"),
            (Actor::Cli("root".into()), "cli: root"),
            (Actor::Portal("C00042".into()), "portal: C00042"),
            (
                Actor::Routine("Envio diário".into()),
                "routine: Envio diário",
            ),
            (Actor::Psp("efi".into()), "pix: efi"),
            (Actor::Import, "import"),
            (Actor::Demo, "demo"),
        ] {
            assert_eq!(actor.to_string(), text);
        }
    }
}
