//! The variables a layout can use, in Portuguese, and the context that carries their values.
//! [`VARIABLES`] is the single list behind validation ("variável desconhecida"), the editor's
//! help and `docs/layouts.md`; a test keeps it equal to what [`LayoutContext`] serialises.

use serde::Serialize;

/// One variable: its dotted path, what it holds (pt-BR, shown to editors) and an example value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Dotted path as written in a template, e.g. `fatura.valor`.
    pub path: &'static str,
    /// What it holds, in Portuguese.
    pub description: &'static str,
    /// An example of its value, as rendered.
    pub example: &'static str,
}

const fn var(path: &'static str, description: &'static str, example: &'static str) -> Variable {
    Variable {
        path,
        description,
        example,
    }
}

/// Every variable a layout may use. Objects (`cliente`, `fatura`…) are valid on their own too.
pub const VARIABLES: &[Variable] = &[
    var(
        "cliente.nome",
        "Nome ou razão social do cliente",
        "Maria da Silva",
    ),
    var(
        "cliente.documento",
        "CPF ou CNPJ do cliente, formatado",
        "123.456.789-09",
    ),
    var(
        "cliente.email",
        "E-mail principal do cliente",
        "maria@example.com.br",
    ),
    var("contrato.numero", "Número (código) do contrato", "CT-1001"),
    var("contrato.plano", "Plano contratado", "Fibra 500 Mega"),
    var("fatura.numero", "Número da fatura", "CT-1001/2026-12"),
    var("fatura.valor", "Valor da fatura, formatado", "R$ 1.234,56"),
    var(
        "fatura.valor_centavos",
        "Valor da fatura em centavos (para o filtro brl)",
        "123456",
    ),
    var(
        "fatura.vencimento",
        "Data de vencimento (dd/mm/aaaa)",
        "10/12/2026",
    ),
    var(
        "fatura.dias_atraso",
        "Dias de atraso (0 se ainda não venceu)",
        "13",
    ),
    var(
        "fatura.dias_em_atraso",
        "Dias de atraso para multa e juros (0 até o vencimento; vencimento em fim de semana ou feriado bancário passa para o próximo dia útil)",
        "13",
    ),
    var(
        "fatura.multa",
        "Multa por atraso, em reais (a da carteira, aplicada uma vez após o vencimento)",
        "R$ 24,69",
    ),
    var(
        "fatura.juros_ao_dia",
        "Juros de mora por dia de atraso, em reais",
        "R$ 0,41",
    ),
    var(
        "fatura.valor_atualizado",
        "Valor a pagar hoje: valor + multa + juros até hoje (ou com o desconto, se em dia)",
        "R$ 1.264,60",
    ),
    var(
        "fatura.pix_valor_atualizado",
        "PIX copia e cola do valor a pagar hoje (vazio se a carteira não tem chave PIX)",
        "00020101021226…6304EF01",
    ),
    var(
        "fatura.linha_digitavel",
        "Linha digitável do boleto",
        "00190.00009 01234.567004 00000.001180 1 12345000123456",
    ),
    var(
        "fatura.pix_copia_e_cola",
        "Código PIX copia e cola (vazio se a carteira não tem chave PIX)",
        "00020101021226…6304ABCD",
    ),
    var(
        "fatura.link_portal",
        "Endereço da fatura na Central do Assinante",
        "https://central.example.com.br/central/faturas/42",
    ),
    var(
        "pagamento.data",
        "Data do pagamento (dd/mm/aaaa; vazio fora do aviso de pagamento confirmado)",
        "12/12/2026",
    ),
    var(
        "pagamento.valor",
        "Valor pago, formatado (vazio fora do aviso de pagamento confirmado)",
        "R$ 1.234,56",
    ),
    var("empresa.nome", "Nome do provedor", "Provedor Exemplo"),
    var(
        "empresa.telefone",
        "Telefone de atendimento do provedor",
        "(11) 4000-1234",
    ),
    var(
        "empresa.email",
        "E-mail de atendimento do provedor",
        "atendimento@example.com.br",
    ),
    var(
        "empresa.site",
        "Site do provedor",
        "https://www.example.com.br",
    ),
    var(
        "central.link_acesso",
        "Link de primeiro acesso ou de nova senha da Central do Assinante (vazio fora desse aviso; vale por pouco tempo e uma só vez)",
        "https://central.example.com.br/central/senha/3q2-7Xk…",
    ),
    var(
        "suspensao.inicio",
        "Início da suspensão temporária (dd/mm/aaaa; vazio fora dos avisos de suspensão)",
        "01/12/2026",
    ),
    var(
        "suspensao.fim",
        "Fim da suspensão temporária (dd/mm/aaaa)",
        "31/12/2026",
    ),
    var("suspensao.motivo", "Motivo da suspensão", "Viagem"),
    var(
        "aviso.motivo",
        "Motivo da notificação de débito ou do aviso de rescisão",
        "falta de pagamento das faturas em aberto",
    ),
    var(
        "aviso.valor_total",
        "Valor total do débito (faturas vencidas), formatado",
        "R$ 239,80",
    ),
    var(
        "aviso.competencias",
        "Meses de referência das faturas vencidas",
        "11/2026, 12/2026",
    ),
    var(
        "aviso.data_suspensao",
        "Data a partir da qual o serviço pode ser suspenso",
        "26/12/2026",
    ),
    var(
        "aviso.data_rescisao",
        "Data a partir da qual o contrato pode ser rescindido",
        "24/02/2027",
    ),
    var(
        "aviso.regras",
        "As regras e prazos de suspensão e de rescisão da política do provedor",
        "O serviço pode ser suspenso 15 dias após esta notificação; após 60 dias de suspensão, o contrato pode ser rescindido.",
    ),
    var(
        "aviso.negativacao",
        "Aviso de que o débito pode ser registrado em cadastros de proteção ao crédito após a rescisão",
        "Após a rescisão do contrato, o débito poderá ser registrado em sistemas de proteção ao crédito.",
    ),
    var(
        "aviso.prazo_restabelecimento",
        "Em quanto tempo o serviço volta após o pagamento",
        "até 24 horas",
    ),
    var(
        "faturas_em_aberto",
        "Lista de todas as faturas em aberto do cliente (cada item tem os campos de `fatura`)",
        "[fatura, fatura, …]",
    ),
    var(
        "total_em_aberto",
        "Soma das faturas em aberto, formatada",
        "R$ 2.469,12",
    ),
    var("hoje", "Data do envio (dd/mm/aaaa)", "22/11/2026"),
    var(
        "carta",
        "Verdadeiro quando o modelo da faixa é impresso como carta de cobrança (use {% if not carta %} no que só vale no e-mail: links, \"mensagem automática\")",
        "false",
    ),
    var(
        "boletos_anexos",
        "Quantos boletos vão em anexo nesta mensagem (0, 1 ou mais: a geração de vários meses envia todos)",
        "1",
    ),
];

/// The object names (`cliente`, `fatura`…) and top-level variables a template may name.
pub fn is_known_variable(path: &str) -> bool {
    VARIABLES
        .iter()
        .any(|v| v.path == path || v.path.split_once('.').is_some_and(|(o, _)| o == path))
}

/// Why `v` is not a variable a single value can take (a WhatsApp template's parameter): a
/// known scalar (`cliente.nome`), not an object or a list; with a suggestion when it is close.
pub fn check_scalar_variable(v: &str) -> Result<(), String> {
    if VARIABLES.iter().any(|x| x.path == v) {
        return Ok(());
    }
    Err(match suggest(v, VARIABLES.iter().map(|x| x.path)) {
        Some(s) => format!("variável desconhecida {v:?} (quis dizer {s}?)"),
        None => format!("variável desconhecida {v:?}"),
    })
}

/// The value of scalar variable `path` (`fatura.valor`) in a rendered context, as text.
pub fn scalar_value(ctx: &serde_json::Value, path: &str) -> String {
    let mut v = ctx;
    for part in path.split('.') {
        match v.get(part) {
            Some(x) => v = x,
            None => return String::new(),
        }
    }
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The fields of one invoice, also the items of `faturas_em_aberto`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct InvoiceVars {
    /// `fatura.numero`
    #[serde(rename = "numero")]
    pub number: String,
    /// `fatura.valor`: `R$ 1.234,56`.
    #[serde(rename = "valor")]
    pub amount: String,
    /// `fatura.valor_centavos`
    #[serde(rename = "valor_centavos")]
    pub amount_cents: i64,
    /// `fatura.vencimento`: `dd/mm/aaaa`.
    #[serde(rename = "vencimento")]
    pub due_date: String,
    /// `fatura.dias_atraso`: 0 until the due date has passed.
    #[serde(rename = "dias_atraso")]
    pub days_overdue: i64,
    /// `fatura.dias_em_atraso`: days late for fine and interest (docs/charges.md).
    #[serde(rename = "dias_em_atraso")]
    pub days_late: i64,
    /// `fatura.multa`: the fine once late, formatted.
    #[serde(rename = "multa")]
    pub fine: String,
    /// `fatura.juros_ao_dia`: interest a day, formatted.
    #[serde(rename = "juros_ao_dia")]
    pub interest_per_day: String,
    /// `fatura.valor_atualizado`: the amount due today, formatted.
    #[serde(rename = "valor_atualizado")]
    pub amount_due: String,
    /// `fatura.pix_valor_atualizado`: the PIX code for the amount due today.
    #[serde(rename = "pix_valor_atualizado")]
    pub pix_code_due: String,
    /// `fatura.linha_digitavel`, formatted.
    #[serde(rename = "linha_digitavel")]
    pub digitable_line: String,
    /// `fatura.pix_copia_e_cola`; empty without a PIX key.
    #[serde(rename = "pix_copia_e_cola")]
    pub pix_code: String,
    /// `fatura.link_portal`
    #[serde(rename = "link_portal")]
    pub portal_link: String,
}

/// `cliente.*`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CustomerVars {
    /// `cliente.nome`
    #[serde(rename = "nome")]
    pub name: String,
    /// `cliente.documento`, formatted CPF or CNPJ.
    #[serde(rename = "documento")]
    pub document: String,
    /// `cliente.email`
    pub email: String,
}

/// `contrato.*`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ContractVars {
    /// `contrato.numero`: the contract's external id.
    #[serde(rename = "numero")]
    pub number: String,
    /// `contrato.plano`
    #[serde(rename = "plano")]
    pub plan: String,
}

/// `empresa.*`: the ISP itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CompanyVars {
    /// `empresa.nome`
    #[serde(rename = "nome")]
    pub name: String,
    /// `empresa.telefone`
    #[serde(rename = "telefone")]
    pub phone: String,
    /// `empresa.email`
    pub email: String,
    /// `empresa.site`
    pub site: String,
}

/// `pagamento.*`: empty strings outside the "pagamento confirmado" notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PaymentVars {
    /// `pagamento.data`
    #[serde(rename = "data")]
    pub date: String,
    /// `pagamento.valor`
    #[serde(rename = "valor")]
    pub amount: String,
}

/// `suspensao.*`: empty strings outside suspension notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SuspensionVars {
    /// `suspensao.inicio`
    #[serde(rename = "inicio")]
    pub start: String,
    /// `suspensao.fim`
    #[serde(rename = "fim")]
    pub end: String,
    /// `suspensao.motivo`
    #[serde(rename = "motivo")]
    pub reason: String,
}

/// `aviso.*`: what a debt notice or a termination notice must say (RGC, docs/debt.md); empty
/// strings in other messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DebtNoticeVars {
    /// `aviso.motivo`
    #[serde(rename = "motivo")]
    pub reason: String,
    /// `aviso.valor_total`
    #[serde(rename = "valor_total")]
    pub total: String,
    /// `aviso.competencias`
    #[serde(rename = "competencias")]
    pub months: String,
    /// `aviso.data_suspensao`
    #[serde(rename = "data_suspensao")]
    pub suspension_date: String,
    /// `aviso.data_rescisao`
    #[serde(rename = "data_rescisao")]
    pub termination_date: String,
    /// `aviso.regras`
    #[serde(rename = "regras")]
    pub rules: String,
    /// `aviso.negativacao`
    #[serde(rename = "negativacao")]
    pub credit_bureaus: String,
    /// `aviso.prazo_restabelecimento`
    #[serde(rename = "prazo_restabelecimento")]
    pub restore_within: String,
}

/// `central.*`: empty strings outside the portal's access notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PortalVars {
    /// `central.link_acesso`
    #[serde(rename = "link_acesso")]
    pub access_link: String,
}

/// Everything a layout is rendered with. Every key is always present (empty when it does not
/// apply), so a layout that names `suspensao.inicio` renders in any notice instead of failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct LayoutContext {
    /// `cliente`
    #[serde(rename = "cliente")]
    pub customer: CustomerVars,
    /// `contrato`
    #[serde(rename = "contrato")]
    pub contract: ContractVars,
    /// `fatura`
    #[serde(rename = "fatura")]
    pub invoice: InvoiceVars,
    /// `empresa`
    #[serde(rename = "empresa")]
    pub company: CompanyVars,
    /// `pagamento`
    #[serde(rename = "pagamento")]
    pub payment: PaymentVars,
    /// `suspensao`
    #[serde(rename = "suspensao")]
    pub suspension: SuspensionVars,
    /// `central`
    #[serde(rename = "central")]
    pub portal: PortalVars,
    /// `aviso`
    #[serde(rename = "aviso")]
    pub debt: DebtNoticeVars,
    /// `faturas_em_aberto`: all open invoices of the customer, oldest due date first.
    #[serde(rename = "faturas_em_aberto")]
    pub open_invoices: Vec<InvoiceVars>,
    /// `total_em_aberto`, formatted.
    #[serde(rename = "total_em_aberto")]
    pub open_total: String,
    /// `hoje`: the sending date, `dd/mm/aaaa`.
    #[serde(rename = "hoje")]
    pub today: String,
    /// `boletos_anexos`: how many boletos this message attaches, so a text can say "o boleto
    /// segue" or "os boletos seguem".
    #[serde(rename = "boletos_anexos")]
    pub attached_boletos: usize,
    /// `carta`: true while the band's model is rendered as the collection letter (on paper:
    /// no links, no "mensagem automática"), false in the e-mail.
    #[serde(rename = "carta")]
    pub letter: bool,
}

impl LayoutContext {
    /// The sample data of previews and of validation's trial render: every variable filled with
    /// its example value, and two open invoices so loops over `faturas_em_aberto` run.
    pub fn sample() -> LayoutContext {
        let example = |path: &str| {
            VARIABLES
                .iter()
                .find(|v| v.path == path)
                .map_or(String::new(), |v| v.example.to_string())
        };
        let invoice = InvoiceVars {
            number: example("fatura.numero"),
            amount: example("fatura.valor"),
            amount_cents: 123_456,
            due_date: example("fatura.vencimento"),
            days_overdue: 13,
            days_late: 13,
            fine: example("fatura.multa"),
            interest_per_day: example("fatura.juros_ao_dia"),
            amount_due: example("fatura.valor_atualizado"),
            pix_code_due: example("fatura.pix_valor_atualizado"),
            digitable_line: example("fatura.linha_digitavel"),
            pix_code: example("fatura.pix_copia_e_cola"),
            portal_link: example("fatura.link_portal"),
        };
        let older = InvoiceVars {
            number: "CT-1001/2026-11".into(),
            due_date: "10/11/2026".into(),
            days_overdue: 43,
            days_late: 43,
            amount_due: "R$ 1.276,95".into(),
            portal_link: "https://central.example.com.br/central/faturas/41".into(),
            ..invoice.clone()
        };
        LayoutContext {
            customer: CustomerVars {
                name: example("cliente.nome"),
                document: example("cliente.documento"),
                email: example("cliente.email"),
            },
            contract: ContractVars {
                number: example("contrato.numero"),
                plan: example("contrato.plano"),
            },
            company: CompanyVars {
                name: example("empresa.nome"),
                phone: example("empresa.telefone"),
                email: example("empresa.email"),
                site: example("empresa.site"),
            },
            payment: PaymentVars {
                date: example("pagamento.data"),
                amount: example("pagamento.valor"),
            },
            suspension: SuspensionVars {
                start: example("suspensao.inicio"),
                end: example("suspensao.fim"),
                reason: example("suspensao.motivo"),
            },
            portal: PortalVars {
                access_link: example("central.link_acesso"),
            },
            debt: DebtNoticeVars {
                reason: example("aviso.motivo"),
                total: example("aviso.valor_total"),
                months: example("aviso.competencias"),
                suspension_date: example("aviso.data_suspensao"),
                termination_date: example("aviso.data_rescisao"),
                rules: example("aviso.regras"),
                credit_bureaus: example("aviso.negativacao"),
                restore_within: example("aviso.prazo_restabelecimento"),
            },
            open_invoices: vec![older, invoice.clone()],
            open_total: example("total_em_aberto"),
            today: example("hoje"),
            attached_boletos: 1,
            letter: false,
            invoice,
        }
    }
}

/// The known name closest to `unknown` (edit distance at most 2, or one is a prefix of the
/// other), for "você quis dizer …?".
pub fn suggest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(unknown, k), k))
        .filter(|&(d, k)| d <= 2 || (unknown.len() >= 4 && k.starts_with(unknown)))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    paths(&p, v, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn the_variable_list_matches_what_the_context_carries() {
        let mut found = Vec::new();
        paths(
            "",
            &serde_json::to_value(LayoutContext::sample()).unwrap(),
            &mut found,
        );
        found.sort();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.path.to_string()).collect();
        listed.sort();
        assert_eq!(found, listed);
    }

    #[test]
    fn a_typo_gets_the_nearest_variable() {
        let known = VARIABLES.iter().map(|v| v.path);
        assert_eq!(
            suggest("fatura.valorr", known.clone()),
            Some("fatura.valor")
        );
        assert_eq!(
            suggest("fatura.vencimeto", known.clone()),
            Some("fatura.vencimento")
        );
        assert_eq!(suggest("banana.split", known), None);
    }

    #[test]
    fn objects_and_fields_are_known_but_typos_are_not() {
        assert!(is_known_variable("fatura"));
        assert!(is_known_variable("fatura.valor"));
        assert!(is_known_variable("hoje"));
        assert!(!is_known_variable("fatura.valorr"));
        assert!(!is_known_variable("fat"));
    }
}
