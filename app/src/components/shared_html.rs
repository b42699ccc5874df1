//! HTML rendered once and sent in many pages, such as the portfolio's table: it goes into each
//! page as it is, shared rather than copied (a copy of the portfolio's table is 300 KB).
//!
//! Leptos' `InertElement` does the same for HTML the page owns; this is that view with the HTML
//! behind an `Arc`, and everything but writing it out handed to `InertElement`.

use std::sync::Arc;

use leptos::tachys::{
    html::{InertElement, InertElementState, attribute::any_attribute::AnyAttribute},
    hydration::Cursor,
    no_attrs,
    view::{Position, PositionState, Render, RenderHtml},
};

/// Markup to put into the page as it is: it must be one element, and whole (rendered by Leptos).
#[derive(Clone, Debug)]
pub struct SharedHtml(pub Arc<str>);

impl SharedHtml {
    fn inert(self) -> InertElement {
        InertElement::new(self.0.to_string())
    }
}

impl Render for SharedHtml {
    type State = InertElementState;

    fn build(self) -> Self::State {
        self.inert().build()
    }

    fn rebuild(self, state: &mut Self::State) {
        self.inert().rebuild(state);
    }
}

no_attrs!(SharedHtml);

impl RenderHtml for SharedHtml {
    type AsyncOutput = Self;
    type Owned = Self;

    const MIN_LENGTH: usize = 0;

    fn html_len(&self) -> usize {
        self.0.len()
    }

    fn dry_resolve(&mut self) {}

    async fn resolve(self) -> Self {
        self
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        _escape: bool,
        _mark_branches: bool,
        _extra_attrs: Vec<AnyAttribute>,
    ) {
        buf.push_str(&self.0);
        *position = Position::NextChild;
    }

    fn hydrate<const FROM_SERVER: bool>(
        self,
        cursor: &Cursor,
        position: &PositionState,
    ) -> Self::State {
        self.inert().hydrate::<FROM_SERVER>(cursor, position)
    }

    fn into_owned(self) -> Self::Owned {
        self
    }
}
