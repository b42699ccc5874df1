//! The browser entry point. The pages are rendered on the server; the browser starts only the
//! islands in them (see `app`).

// The islands' start functions are exported from `app`: naming the crate links it in.
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
