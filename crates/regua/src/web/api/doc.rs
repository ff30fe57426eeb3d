//! The OpenAPI document of `/api/v1`, generated (`utoipa`) from the handlers' `#[utoipa::path]`
//! annotations, the request bodies and query parameters they parse and the response bodies of
//! `schema.rs`. Served at `/api/v1/openapi.json`; the API tests call every operation it lists.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::schema;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Régua API",
        version = "1",
        description = "Customers, invoices, sending and the delivery log of Régua. Authenticate with an API key: Authorization: Bearer rg_…"
    ),
    servers((url = "/api/v1")),
    security(("apiKey" = [])),
    modifiers(&ApiKeyScheme),
    paths(
        super::customers,
        super::records::create_customer,
        super::customer,
        super::records::update_customer,
        super::records::create_contract,
        super::records::contract,
        super::records::update_contract,
        super::invoices,
        super::records::create_invoice,
        super::invoice,
        super::records::update_invoice,
        super::records::cancel_invoice,
        super::boleto,
        super::mark_paid,
        super::send,
        super::generate,
        super::records::suspensions,
        super::records::create_suspension,
        super::records::end_suspension,
        super::records::network_state,
        super::notices,
        super::dry_run,
        super::wallets::wallets,
        super::wallets::set_terms,
        super::analytics::steps,
        super::analytics::curves,
        super::analytics::overdue,
        super::regua::rules,
        super::regua::add_rule,
        super::regua::bands,
        super::regua::add_band,
    ),
    components(schemas(schema::ErrorBody))
)]
pub(super) struct ApiDoc;

/// The API key as a bearer token.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description =
            Some("regua apikey add --name NAME --permissions view,send,billing".into());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("apiKey", SecurityScheme::Http(bearer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_every_operation_with_its_types() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "/api/v1");
        assert_eq!(
            doc["components"]["securitySchemes"]["apiKey"]["scheme"],
            "bearer"
        );
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|ops| ops.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, 31);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "Error",
            "Customer",
            "CustomerInput",
            "Contract",
            "ContractInput",
            "Invoice",
            "InvoiceInput",
            "Suspension",
            "SuspensionInput",
            "SuspensionEnded",
            "NetworkStateInput",
            "DebtStatus",
        ] {
            assert!(schemas.contains_key(name), "{name}: {:?}", schemas.keys());
        }
        // A request body refuses unknown fields, as the handler does.
        assert_eq!(schemas["CustomerInput"]["additionalProperties"], false);
        // The POST of a customer takes its input and answers the customer.
        let post = &doc["paths"]["/customers"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CustomerInput"
        );
        assert_eq!(
            post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Customer"
        );
        assert_eq!(
            post["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
    }
}
