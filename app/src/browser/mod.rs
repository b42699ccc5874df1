//! What runs in the browser, besides the islands' own views. Rampart's pages are rendered on the
//! server, whole; this script keeps them current without reloading them:
//! - [`ticker`]: relative times tick and every time turns to the viewer's zone;
//! - [`regions`]: a form inside a page's region is sent in the background and the region read
//!   again in place (its failure's message comes with it); the portfolio's filter reads its
//!   results the same way;
//! - [`live`]: a change to a migration, made anywhere, reads again the regions that show it.
//!
//! `<body data-hydrated>` says the script runs (tests wait for it).

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FormData, HtmlElement, HtmlFormElement, Request, RequestInit, Response, UrlSearchParams,
};

pub mod forms;
mod live;
pub mod regions;
mod ticker;

/// Starts everything, once per page load.
pub fn start() {
    set_body_attribute("data-hydrated", "");
    ticker::start();
    regions::send_forms_in_place();
    live::listen(regions::changed);
}

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("a page has a document")
}

fn set_body_attribute(name: &str, value: &str) {
    if let Some(body) = document().body() {
        let _ = body.set_attribute(name, value);
    }
}

/// GETs `url`, or POSTs `body` (form-encoded) to it, asking for `accept`. A redirect in the
/// answer is followed.
async fn fetch(url: &str, body: Option<String>, accept: &str) -> Result<Response, JsValue> {
    let init = RequestInit::new();
    if let Some(body) = &body {
        init.set_method("POST");
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init)?;
    request.headers().set("Accept", accept)?;
    if body.is_some() {
        request
            .headers()
            .set("Content-Type", "application/x-www-form-urlencoded")?;
    }
    let window = web_sys::window().ok_or(JsValue::NULL)?;
    JsFuture::from(window.fetch_with_request(&request))
        .await?
        .dyn_into::<Response>()
}

/// The form's fields, and the button that sent it (its name and value say which answer it was).
fn form_body(form: &HtmlFormElement, submitter: Option<HtmlElement>) -> Option<String> {
    let data = FormData::new_with_form(form).ok()?;
    if let Some(button) = submitter
        && let Some(name) = button.get_attribute("name")
    {
        let value = button.get_attribute("value").unwrap_or_default();
        data.append_with_str(&name, &value).ok()?;
    }
    let params = UrlSearchParams::new_with_str_sequence_sequence(&data).ok()?;
    Some(params.to_string().into())
}
