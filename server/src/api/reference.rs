//! The API's reference page, `/api/v1/docs`: the OpenAPI document laid out for people — each
//! operation with its parameters, body, answers and examples. Made once, from the document
//! itself, so the two cannot disagree; plain HTML with the page's own styles, no script.

use serde_json::Value;

/// The page, for `document`.
pub fn page(document: &Value) -> String {
    let mut html = String::from(HEAD);
    let info = &document["info"];
    html += &format!(
        "<main class=\"api-reference\"><h1>{} API, version {}</h1><p>{}</p>\
         <p>The same as a document: <a href=\"/api/v1/openapi.json\">openapi.json</a> \
         (OpenAPI {}). Make an API token on your <a href=\"/profile\">profile page</a>.</p>",
        text(&info["title"]),
        text(&info["version"]),
        with_code(&text(&info["description"])),
        text(&document["openapi"]),
    );
    html += "<nav aria-label=\"Operations\"><ul>";
    for (method, path, operation) in operations(document) {
        html += &format!(
            "<li><a href=\"#{}\"><code>{} {}</code></a> {}</li>",
            anchor(method, path),
            method.to_uppercase(),
            escape(path),
            text(&operation["summary"]),
        );
    }
    html += "<li><a href=\"#schemas\">Schemas</a></li></ul></nav>";
    for (method, path, operation) in operations(document) {
        html += &operation_section(document, method, path, operation);
    }
    html += "<h2 id=\"schemas\">Schemas</h2>";
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            html += &schema_section(name, schema);
        }
    }
    html += "</main></body></html>";
    html
}

/// A schema: what it is, its fields, and an example.
fn schema_section(name: &str, schema: &Value) -> String {
    let mut html = format!(
        "<section id=\"schema-{0}\"><h2><code>{0}</code></h2><p>{1}</p>",
        escape(name),
        with_code(&text(&schema["description"]).replace('\n', " ")),
    );
    if let Some(properties) = schema["properties"].as_object() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        html +=
            "<table><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead><tbody>";
        for (field, property) in properties {
            let optional = if required.contains(&field.as_str()) {
                ""
            } else {
                " (optional)"
            };
            html += &format!(
                "<tr><td><code>{}</code>{optional}</td><td>{}</td><td>{}</td></tr>",
                escape(field),
                type_of(property),
                with_code(&text(&property["description"]).replace('\n', " ")),
            );
        }
        html += "</tbody></table>";
    }
    if let Some(example) = schema.get("example") {
        html += &format!(
            "<h3>Example</h3><pre>{}</pre>",
            escape(&serde_json::to_string_pretty(example).unwrap_or_default())
        );
    }
    html + "</section>"
}

/// A property's type in words, its schemas linked: "string or null", "array of Stage".
fn type_of(property: &Value) -> String {
    if let Some(reference) = property["$ref"].as_str() {
        return schema_link(reference);
    }
    if let Some(choices) = property["oneOf"].as_array() {
        return choices.iter().map(type_of).collect::<Vec<_>>().join(" or ");
    }
    let base = match &property["type"] {
        Value::String(kind) if kind == "array" => {
            format!("array of {}", type_of(&property["items"]))
        }
        Value::String(kind) => escape(kind),
        Value::Array(kinds) => kinds
            .iter()
            .map(|kind| match kind.as_str() {
                Some("array") => format!("array of {}", type_of(&property["items"])),
                _ => text(kind),
            })
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    let base = match property["format"].as_str() {
        Some(format) => format!("{base} ({})", escape(format)),
        None => base,
    };
    match property["enum"].as_array() {
        Some(values) => {
            let words: Vec<String> = values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| format!("<code>{}</code>", text(v)))
                .collect();
            format!("{base}: {}", words.join(", "))
        }
        None => base,
    }
}

fn schema_link(reference: &str) -> String {
    let name = escape(last(reference));
    format!("<a href=\"#schema-{name}\"><code>{name}</code></a>")
}

const HEAD: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
    <title>Rampart API reference</title>\
    <link rel=\"stylesheet\" href=\"/api/v1/docs.css\"></head><body>";

/// The page's styles: the house tokens and elements, and its own.
pub const STYLES: &str = concat!(
    include_str!("../../../style/tokens.css"),
    include_str!("../../../style/base.css"),
    include_str!("../../../style/api-reference.css"),
);

/// Every operation, by the document's order of tags, then path, then method.
fn operations(document: &Value) -> Vec<(&str, &str, &Value)> {
    let tags: Vec<&str> = document["tags"]
        .as_array()
        .map(|tags| tags.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    let mut found = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "patch", "put", "delete"] {
                if let Some(operation) = item.get(method) {
                    found.push((method, path.as_str(), operation));
                }
            }
        }
    }
    let rank = |operation: &Value| {
        let tag = operation["tags"][0].as_str().unwrap_or_default();
        tags.iter().position(|t| *t == tag).unwrap_or(tags.len())
    };
    found.sort_by_key(|(_, _, operation)| rank(operation));
    found
}

fn operation_section(document: &Value, method: &str, path: &str, operation: &Value) -> String {
    let mut html = format!(
        "<section id=\"{}\"><h2><span class=\"api-method\">{}</span> <code>/api/v1{}</code></h2><p>{}</p>",
        anchor(method, path),
        method.to_uppercase(),
        escape(path),
        with_code(&text(&operation["description"]).replace('\n', " ")),
    );
    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        html += "<h3>Parameters</h3><table><thead><tr><th>Name</th><th>In</th><th>Required</th>\
                 <th>Description</th></tr></thead><tbody>";
        for parameter in parameters {
            html += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&parameter["name"]),
                text(&parameter["in"]),
                if parameter["required"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                with_code(&text(&parameter["description"])),
            );
        }
        html += "</tbody></table>";
    }
    if let Some(schema) = operation["requestBody"]["content"]["application/json"].get("schema") {
        html += &format!("<h3>Body: {}</h3>", schema_name(schema));
        html += &example(document, schema);
    }
    html += "<h3>Answers</h3><table><tbody>";
    if let Some(responses) = operation["responses"].as_object() {
        for (status, response) in responses {
            let schema = &response["content"]["application/json"]["schema"];
            html += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(status),
                with_code(&text(&response["description"])),
                if schema.is_null() {
                    String::new()
                } else {
                    schema_name(schema)
                },
            );
        }
    }
    html += "</tbody></table>";
    let success = operation["responses"]
        .as_object()
        .and_then(|r| r.iter().find(|(status, _)| status.starts_with('2')))
        .map(|(_, response)| &response["content"]["application/json"]["schema"]);
    if let Some(schema) = success.filter(|s| !s.is_null()) {
        let shown = example(document, schema);
        if !shown.is_empty() {
            html += &format!("<h3>Example answer</h3>{shown}");
        }
    }
    html + "</section>"
}

/// `Migration`, or `array of MigrationSummary`, linked to their schemas.
fn schema_name(schema: &Value) -> String {
    type_of(schema)
}

/// The referenced schema's example, as JSON.
fn example(document: &Value, schema: &Value) -> String {
    let Some(reference) = schema["$ref"].as_str() else {
        return String::new();
    };
    let named = &document["components"]["schemas"][last(reference)];
    let example = named
        .get("example")
        .or_else(|| named["examples"].as_array().and_then(|e| e.first()));
    example
        .and_then(|e| serde_json::to_string_pretty(e).ok())
        .map(|json| format!("<pre>{}</pre>", escape(&json)))
        .unwrap_or_default()
}

fn last(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{method}{slug}")
}

/// A JSON string's text, escaped for HTML; empty for anything else.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => escape(s),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Escaped text with its `backticked` parts as code.
fn with_code(escaped: &str) -> String {
    let mut html = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            html += &format!("<code>{part}</code>");
        } else {
            html += part;
        }
    }
    html
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_backticks_become_code() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            with_code("send `version` back"),
            "send <code>version</code> back"
        );
    }
}
