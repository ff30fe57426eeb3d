//! The default layouts, in Portuguese, one per purpose: neutral and professional, installed by
//! `regua migrate` and restorable after edits. Each body sits in one shared HTML frame
//! (header with the ISP's name, footer with its contacts), so the defaults look alike; the frame
//! is part of each stored layout, so staff can edit everything. The message itself sits between
//! `<!-- conteudo -->` and `<!-- /conteudo -->`: the layout editor's visual mode edits that part
//! and leaves the frame as it is.

use super::Purpose;

/// A built-in layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultLayout {
    /// The purpose; also the layout's key for "restaurar padrão".
    pub purpose: Purpose,
    /// The name it is installed under.
    pub name: &'static str,
    /// Subject template.
    pub subject: &'static str,
    /// HTML body template (frame included).
    pub html: String,
}

const FRAME_TOP: &str = r#"<!DOCTYPE html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ empresa.nome }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#222;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border-radius:6px;">
{% if not carta %}<tr><td style="padding:20px 28px;border-bottom:3px solid #1f5fa8;font-size:20px;font-weight:bold;color:#1f5fa8;">{{ empresa.nome }}</td></tr>{% endif %}
<tr><td style="padding:24px 28px;font-size:15px;line-height:1.5;">
<!-- conteudo -->
"#;

const FRAME_BOTTOM: &str = r#"<!-- /conteudo -->
</td></tr>
{% if not carta %}<tr><td style="padding:16px 28px;border-top:1px solid #e3e5e8;font-size:12px;color:#666;">
<p>{{ empresa.nome }}{% if empresa.telefone %} · Atendimento: {{ empresa.telefone }}{% endif %}{% if empresa.email %} · {{ empresa.email }}{% endif %}</p>
<p>Esta é uma mensagem automática; não é preciso respondê-la.</p>
</td></tr>{% endif %}
</table>
</td></tr>
</table>
</body>
</html>
"#;

/// The payment block: amount, due date, digitable line, PIX and the portal link.
const PAYMENT: &str = r#"<table role="presentation" cellpadding="0" cellspacing="0" style="margin:16px 0;border:1px solid #e3e5e8;border-radius:4px;width:100%;">
<tr><td style="padding:12px 16px;">
<p><strong>Fatura:</strong> {{ fatura.numero }}<br>
<strong>Valor:</strong> {{ fatura.valor }}<br>
<strong>Vencimento:</strong> {{ fatura.vencimento }}</p>
<p><strong>Linha digitável:</strong><br>{{ fatura.linha_digitavel }}</p>
{% if fatura.pix_copia_e_cola %}
<p><strong>PIX copia e cola:</strong><br><span style="word-break:break-all;font-size:12px;">{{ fatura.pix_copia_e_cola }}</span></p>
{% endif %}
</td></tr>
</table>
<p><a href="{{ fatura.link_portal }}" style="color:#1f5fa8;">Ver a fatura na Central do Assinante</a></p>
"#;

/// The payment block after the due date: the amount due today with fine and interest
/// (docs/charges.md), and the PIX code for that amount in the text itself — a subscriber on a
/// phone pays from the message, not from inside the PDF.
const PAYMENT_LATE: &str = r#"<table role="presentation" cellpadding="0" cellspacing="0" style="margin:16px 0;border:1px solid #e3e5e8;border-radius:4px;width:100%;">
<tr><td style="padding:12px 16px;">
<p><strong>Fatura:</strong> {{ fatura.numero }}<br>
<strong>Vencimento:</strong> {{ fatura.vencimento }}<br>
<strong>Valor original:</strong> {{ fatura.valor }}</p>
{% if fatura.valor_atualizado != fatura.valor %}
<p><strong>Valor para pagamento hoje:</strong> {{ fatura.valor_atualizado }}<br>
<span style="font-size:13px;color:#555;">Inclui multa de {{ fatura.multa }} e juros de {{ fatura.juros_ao_dia }} por dia de atraso ({{ fatura.dias_em_atraso }} dias).</span></p>
{% endif %}
{% if fatura.pix_valor_atualizado %}
<p><strong>PIX copia e cola (valor de hoje):</strong><br><span style="word-break:break-all;font-size:12px;">{{ fatura.pix_valor_atualizado }}</span></p>
{% endif %}
<p><strong>Linha digitável do boleto:</strong><br>{{ fatura.linha_digitavel }}<br>
<span style="font-size:13px;color:#555;">Pelo boleto, a multa e os juros são calculados pelo banco no pagamento.</span></p>
</td></tr>
</table>
<p><a href="{{ fatura.link_portal }}" style="color:#1f5fa8;">Ver a fatura na Central do Assinante</a></p>
"#;

fn framed(body: &str) -> String {
    format!("{FRAME_TOP}{body}{FRAME_BOTTOM}")
}

/// Every default layout, one per purpose.
pub fn default_layouts() -> Vec<DefaultLayout> {
    let with_payment = |intro: &str, outro: &str| framed(&format!("{intro}{PAYMENT}{outro}"));
    vec![
        DefaultLayout {
            purpose: Purpose::InvoiceGenerated,
            name: "Fatura gerada",
            subject: "{{ empresa.nome }}: {% if boletos_anexos > 1 %}suas faturas estão disponíveis{% else %}sua fatura de {{ fatura.vencimento }} está disponível{% endif %}",
            html: with_payment(
                "<p>Olá, {{ cliente.nome }}.</p>\n{% if boletos_anexos > 1 %}<p>As suas faturas do plano {{ contrato.plano }} já estão disponíveis: os {{ boletos_anexos }} boletos seguem em anexo.</p>{% else %}<p>A fatura do seu plano {{ contrato.plano }} já está disponível. O boleto segue em anexo.</p>{% endif %}\n",
                "",
            ),
        },
        DefaultLayout {
            purpose: Purpose::ReminderBeforeDue,
            name: "Lembrete antes do vencimento",
            subject: "Lembrete: sua fatura vence em {{ fatura.vencimento }}",
            html: with_payment(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Lembramos que a sua fatura vence em <strong>{{ fatura.vencimento }}</strong>. O boleto segue em anexo para a sua comodidade.</p>\n",
                "",
            ),
        },
        DefaultLayout {
            purpose: Purpose::DueToday,
            name: "Vencimento hoje",
            subject: "Sua fatura vence hoje ({{ fatura.vencimento }})",
            html: with_payment(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>A sua fatura vence <strong>hoje</strong>. Pague pelo boleto em anexo{% if fatura.pix_copia_e_cola %} ou pelo PIX, se preferir{% endif %}.</p>\n",
                "",
            ),
        },
        DefaultLayout {
            purpose: Purpose::ReminderAfterDue,
            name: "Lembrete após o vencimento",
            subject: "Fatura em aberto: vencida em {{ fatura.vencimento }}",
            html: framed(&format!(
                "{}{PAYMENT_LATE}",
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Não identificamos o pagamento da fatura vencida em {{ fatura.vencimento }} ({{ fatura.dias_atraso }} dias). Para evitar a interrupção do serviço, regularize {% if fatura.pix_valor_atualizado %}pelo PIX abaixo ou {% endif %}pelo boleto em anexo. Se o pagamento já foi efetuado, por favor desconsidere este aviso.</p>\n",
            )),
        },
        DefaultLayout {
            purpose: Purpose::OverdueBand,
            name: "Aviso de atraso",
            subject: "Aviso de débito em aberto — {{ empresa.nome }}",
            html: framed(
                &(r#"{% if carta %}<p>Prezado(a) {{ cliente.nome }},</p>
<p>Consta em nosso sistema débito em aberto em seu nome, em atraso há {{ fatura.dias_atraso }} dias, referente às faturas relacionadas abaixo. Pedimos que regularize o pagamento para evitar a suspensão do serviço. Caso precise negociar, fale com o nosso atendimento{% if empresa.telefone %} pelo telefone {{ empresa.telefone }}{% endif %}. Se o pagamento já foi efetuado, por favor desconsidere este aviso.</p>
{% else %}<p>Olá, {{ cliente.nome }}.</p>
<p>Consta em nosso sistema o seguinte débito em aberto, em atraso há {{ fatura.dias_atraso }} dias:</p>
<table role="presentation" cellpadding="6" cellspacing="0" style="border-collapse:collapse;width:100%;font-size:14px;">
<tr style="background:#f4f5f7;"><th align="left">Fatura</th><th align="left">Vencimento</th><th align="right">Valor</th><th align="right">Valor hoje</th></tr>
{% for f in faturas_em_aberto %}
<tr><td>{{ f.numero }}</td><td>{{ f.vencimento }}</td><td align="right">{{ f.valor }}</td><td align="right">{{ f.valor_atualizado }}</td></tr>
{% endfor %}
<tr><td colspan="2"><strong>Total em aberto</strong></td><td align="right"><strong>{{ total_em_aberto }}</strong></td><td></td></tr>
</table>
"#
                .to_string()
                    + PAYMENT_LATE
                    + "<p>Caso precise negociar, fale com o nosso atendimento. Se o pagamento já foi efetuado, por favor desconsidere este aviso.</p>\n{% endif %}\n"),
            ),
        },
        DefaultLayout {
            purpose: Purpose::PortalSecondCopy,
            name: "Segunda via (Central do Assinante)",
            subject: "Segunda via da sua fatura — vencimento {{ fatura.vencimento }}",
            html: with_payment(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Conforme solicitado na Central do Assinante, segue a segunda via da sua fatura. O boleto está em anexo.</p>\n",
                "",
            ),
        },
        DefaultLayout {
            purpose: Purpose::PortalAccess,
            name: "Acesso à Central do Assinante",
            subject: "{{ empresa.nome }}: seu link de acesso à Central do Assinante",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Recebemos um pedido de acesso à Central do Assinante para o CPF/CNPJ {{ cliente.documento }}. Para criar sua senha, use o link abaixo:</p>\n<p><a href=\"{{ central.link_acesso }}\">Criar minha senha</a></p>\n<p>O link vale por uma hora e só pode ser usado uma vez. Se você não fez este pedido, ignore esta mensagem: sua senha atual continua valendo.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::SuspensionScheduled,
            name: "Suspensão agendada",
            subject: "Suspensão temporária agendada a partir de {{ suspensao.inicio }}",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Confirmamos a suspensão temporária do seu contrato {{ contrato.numero }} ({{ contrato.plano }}) de <strong>{{ suspensao.inicio }}</strong> a <strong>{{ suspensao.fim }}</strong>.</p>\n<p>O serviço será restabelecido automaticamente ao fim do período.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::SuspensionStarted,
            name: "Suspensão iniciada",
            subject: "Seu serviço está suspenso temporariamente até {{ suspensao.fim }}",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>A suspensão temporária do seu contrato {{ contrato.numero }} começou em {{ suspensao.inicio }} e vai até <strong>{{ suspensao.fim }}</strong>.</p>\n<p>Se quiser retomar o serviço antes, fale com o nosso atendimento.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::SuspensionEnding,
            name: "Suspensão terminando",
            subject: "Seu serviço volta em {{ suspensao.fim }}",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>A suspensão temporária do seu contrato {{ contrato.numero }} termina em <strong>{{ suspensao.fim }}</strong>, e o serviço será restabelecido automaticamente.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::SuspensionEnded,
            name: "Suspensão encerrada",
            subject: "Seu serviço foi restabelecido",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>A suspensão temporária do seu contrato {{ contrato.numero }} terminou e o serviço foi restabelecido. Obrigado por continuar conosco.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::SuspensionWithdrawn,
            name: "Suspensão cancelada",
            subject: "Suspensão temporária cancelada: seu serviço continua ativo",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>A suspensão temporária do seu contrato {{ contrato.numero }}, agendada de {{ suspensao.inicio }} a {{ suspensao.fim }}, foi cancelada. Seu serviço continua ativo normalmente.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::PaymentConfirmed,
            name: "Pagamento confirmado",
            subject: "{{ empresa.nome }}: pagamento da fatura {{ fatura.numero }} confirmado",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Recebemos o pagamento da sua fatura {{ fatura.numero }}, com vencimento em {{ fatura.vencimento }}: {{ pagamento.valor }}, pago em {{ pagamento.data }}. Obrigado!</p>\n<p>Nada mais é devido por esta fatura. Se você pagou duas vezes, fale conosco para a devolução.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::SmtpTest,
            name: "Teste de envio",
            subject: "Teste de envio — {{ empresa.nome }}",
            html: framed(
                "<p>Esta é uma mensagem de teste enviada pelo Régua em {{ hoje }}.</p>\n<p>Se você a recebeu, o envio por este canal (e-mail, SMS ou push) está configurado corretamente.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::DebtNotice,
            name: "Notificação de débito",
            subject: "{{ empresa.nome }}: notificação de débito — o serviço pode ser suspenso a partir de {{ aviso.data_suspensao }}",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>Constam em aberto as faturas do seu contrato {{ contrato.numero }} referentes a <strong>{{ aviso.competencias }}</strong>, no valor total de <strong>{{ aviso.valor_total }}</strong>.</p>\n<p><strong>Motivo:</strong> {{ aviso.motivo }}. Se o pagamento não for feito, o serviço poderá ser suspenso a partir de <strong>{{ aviso.data_suspensao }}</strong>.</p>\n<p><strong>Regras e prazos:</strong> {{ aviso.regras }}</p>\n<p>{{ aviso.negativacao }}</p>\n<p>Após o pagamento, o serviço é restabelecido em <strong>{{ aviso.prazo_restabelecimento }}</strong> contadas da confirmação do pagamento.</p>\n<p>Se você já pagou, por favor desconsidere esta mensagem. As faturas estão na Central do Assinante.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::TerminationNotice,
            name: "Aviso de rescisão",
            subject: "{{ empresa.nome }}: aviso de rescisão do contrato {{ contrato.numero }} a partir de {{ aviso.data_rescisao }}",
            html: framed(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>O serviço do seu contrato {{ contrato.numero }} está suspenso por falta de pagamento das faturas referentes a <strong>{{ aviso.competencias }}</strong>, no valor total de <strong>{{ aviso.valor_total }}</strong>.</p>\n<p><strong>Motivo:</strong> {{ aviso.motivo }}. Se o débito não for pago, o contrato poderá ser rescindido a partir de <strong>{{ aviso.data_rescisao }}</strong>.</p>\n<p>{{ aviso.negativacao }}</p>\n<p>Pagando antes dessa data, o serviço é restabelecido em {{ aviso.prazo_restabelecimento }}.</p>\n",
            ),
        },
        DefaultLayout {
            purpose: Purpose::AccountDefault,
            name: "Mensagem padrão de cobrança",
            subject: "{{ empresa.nome }}: fatura com vencimento em {{ fatura.vencimento }}",
            html: with_payment(
                "<p>Olá, {{ cliente.nome }}.</p>\n<p>{% if boletos_anexos > 1 %}Seguem em anexo os boletos das suas faturas.{% else %}Segue em anexo o boleto da sua fatura.{% endif %} Caso o pagamento já tenha sido efetuado, por favor desconsidere esta mensagem.</p>\n",
                "",
            ),
        },
    ]
}

/// The default layout of a purpose.
pub fn default_layout(purpose: Purpose) -> DefaultLayout {
    default_layouts()
        .into_iter()
        .find(|d| d.purpose == purpose)
        .unwrap_or_else(|| unreachable!("every purpose has a default layout"))
}
