//! The OpenAPI 3.1 document: the operations come from the handlers' annotations; what every
//! operation shares — the bearer token, the error answers, the `Idempotency-Key` header of a
//! `POST` — is added here once rather than written on each.

use utoipa::{
    OpenApi,
    openapi::{
        ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type,
        path::{Operation, ParameterBuilder, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use serde_json::{Value, json};

use super::error::{ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rampart",
        version = "1",
        description = "Feature-flag migrations, for scripts: what the pages do, with the same \
            rules. Authenticate with `Authorization: Bearer <API token>` (make one on your \
            profile page); you act as the token's user, with their roles. Errors have one shape, \
            `{\"error\": {\"code\", \"message\", \"field\"?}}`: 400 malformed or invalid input, \
            401 no or a bad token, 403 not your role, 404 unknown, 409 changed since the \
            `version` you sent or a request already pending, 422 refused by a rule of the \
            rollout (the domain's refusal code and sentence), 429 too many requests (see \
            `Retry-After`), 503 a system Rampart needs is unavailable. A `POST` sent again with \
            the same `Idempotency-Key` is applied once: the retry gets the first answer."
    ),
    servers((url = "/api/v1")),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "migrations", description = "Migrations: list, read, add, edit, panels"),
        (name = "stages", description = "The stage machine: check-ins, advancing, the kill switch"),
        (name = "production", description = "Production changes and their four-eyes approval"),
        (name = "audit", description = "The audit log")
    )
)]
struct Base;

/// The document before the handlers' operations are added.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// Answers any operation may give, beyond its own.
const SHARED_ANSWERS: [(&str, &str); 5] = [
    ("400", "Malformed or invalid input; `field` names the field"),
    (
        "401",
        "No API token, or one that is unknown, revoked or of a deactivated user",
    ),
    ("403", "The token's user does not have the role for this"),
    (
        "429",
        "Too many requests from this token; `Retry-After` says when to try again",
    ),
    ("503", "A system Rampart needs is unavailable; try again"),
];

/// Answers of a `POST`, for its `Idempotency-Key`.
const KEYED_ANSWERS: [(&str, &str); 2] = [
    (
        "409",
        "The first request with this `Idempotency-Key` is still running",
    ),
    (
        "422",
        "This `Idempotency-Key` was sent with a different request",
    ),
];

/// Answers of an operation that reads a body.
const BODY_ANSWERS: [(&str, &str); 2] = [
    ("413", "The body is larger than 64 KiB"),
    ("415", "The body is not JSON"),
];

/// The document as published: with the bearer token, the shared answers and headers on every
/// operation, and the links between operations.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> Value {
    const TOKEN: &str = "api_token";
    if let Some(components) = document.components.as_mut() {
        components.add_security_scheme(
            TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token, `rpt_…`"))
                    .build(),
            ),
        );
    }
    document.security = Some(vec![SecurityRequirement::new(TOKEN, Vec::<String>::new())]);
    for item in document.paths.paths.values_mut() {
        if let Some(post) = item.post.as_mut() {
            add_idempotency_key(post);
            add_answers(post, &KEYED_ANSWERS);
        }
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_answers(operation, &SHARED_ANSWERS);
            if operation.request_body.is_some() {
                add_answers(operation, &BODY_ANSWERS);
            }
        }
    }
    let mut published = serde_json::to_value(&document).unwrap_or(Value::Null);
    link_answers(&mut published);
    published
}

/// What a created migration's and change request's answers lead to, for clients (and
/// schemathesis's stateful tests) that follow links: `flag` and `id` name them. Written as JSON:
/// utoipa 5.5 spells the link's `operationId` as `operation_id`.
fn link_answers(document: &mut Value) {
    let follows: [(&str, &str, &[&str]); 2] = [
        (
            "/migrations",
            "flag",
            &[
                "get_migration",
                "update_migration",
                "check_in",
                "advance",
                "kill",
                "get_panels",
                "request_change",
            ],
        ),
        (
            "/migrations/{flag}/change-requests",
            "id",
            &["approve_change", "reject_change"],
        ),
    ];
    for (path, parameter, operations) in follows {
        let links: serde_json::Map<String, Value> = operations
            .iter()
            .map(|operation| {
                let link = json!({
                    "operationId": operation,
                    "parameters": {parameter: format!("$response.body#/{parameter}")},
                });
                ((*operation).to_owned(), link)
            })
            .collect();
        if let Some(created) = document
            .pointer_mut(&format!(
                "/paths/{}/post/responses/201",
                pointer_escape(path)
            ))
            .and_then(Value::as_object_mut)
        {
            created.insert("links".to_owned(), Value::Object(links));
        }
    }
}

/// `path` as one JSON pointer token: `/` is `~1`.
fn pointer_escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// Adds the answers `operation` does not describe itself.
fn add_answers(operation: &mut Operation, answers: &[(&str, &str)]) {
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| error_answer(description));
    }
}

fn error_answer(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn add_idempotency_key(operation: &mut Operation) {
    let header = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "A key of your choosing, unique per change (a UUID): sent again with the same \
             request, the change is applied once and the retry gets the first answer. Kept a day.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(header);
}
