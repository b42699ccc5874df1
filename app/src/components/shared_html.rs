//! HTML rendered once and sent in many pages, such as the portfolio's table: it goes into each
//! page as it is, shared rather than copied (a copy of the portfolio's table is 300 KB).
//!
//! Leptos writes a page into one growing `String`, and then copies it a few times more on its
//! way out (joining chunks, putting the head in). So on the server the shared HTML is not
//! written into the page at all: the page gets [`Splice::MARKER`] in its place, and the server's
//! middleware sends the page around it, the shared HTML as a piece of its own. Where no such
//! middleware is (or a page shares two), the HTML is written into the page like any other.
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
pub struct SharedHtml {
    html: Arc<str>,
    /// This response's place for it, if the server splices.
    splice: Option<Splice>,
}

impl SharedHtml {
    pub fn new(html: Arc<str>) -> Self {
        Self {
            html,
            splice: leptos::prelude::use_context(),
        }
    }

    fn inert(self) -> InertElement {
        InertElement::new(self.html.to_string())
    }
}

/// One response's shared HTML, from the page that holds it to the middleware that sends it. The
/// middleware closes it once the page is rendered: what a page streamed later still holds is
/// then written into the page itself.
#[derive(Clone, Debug, Default)]
pub struct Splice(Arc<std::sync::Mutex<SpliceState>>);

#[derive(Debug, Default)]
enum SpliceState {
    #[default]
    Open,
    Holding(Arc<str>),
    Closed,
}

impl Splice {
    /// Where the shared HTML goes. Leptos escapes `<` in every text and attribute it writes, so
    /// nothing a person typed can make a comment, let alone this one.
    pub const MARKER: &'static str = "<!--rampart:shared-html-->";

    /// Takes `html` to send beside the page, if nothing else was taken and the page is still
    /// being rendered.
    fn hold(&self, html: &Arc<str>) -> bool {
        let mut state = self.state();
        let open = matches!(*state, SpliceState::Open);
        if open {
            *state = SpliceState::Holding(html.clone());
        }
        open
    }

    /// The HTML that [`Self::MARKER`] stands for in the page, if any; nothing is held after this.
    pub fn close(&self) -> Option<Arc<str>> {
        match std::mem::replace(&mut *self.state(), SpliceState::Closed) {
            SpliceState::Holding(html) => Some(html),
            SpliceState::Open | SpliceState::Closed => None,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SpliceState> {
        // A panic while holding it left nothing half-written: the state is replaced whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// What the page's buffer is sized by: the marker only, where the HTML will go beside it.
    fn html_len(&self) -> usize {
        if self.splice.is_some() {
            Splice::MARKER.len()
        } else {
            self.html.len()
        }
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
        let held = (self.splice.as_ref()).is_some_and(|splice| splice.hold(&self.html));
        buf.push_str(if held { Splice::MARKER } else { &self.html });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_splice_holds_one_html_until_it_is_closed() {
        let splice = Splice::default();
        let (table, other): (Arc<str>, Arc<str>) = ("<table></table>".into(), "<p></p>".into());
        assert!(splice.hold(&table));
        assert!(!splice.hold(&other), "a second is written into the page");
        assert_eq!(splice.close().as_deref(), Some("<table></table>"));
        assert!(
            !splice.hold(&other),
            "once closed, nothing more is sent beside the page"
        );
        assert_eq!(splice.close(), None);
    }

    #[test]
    fn a_page_with_a_splice_gets_the_marker_and_one_without_gets_the_html() {
        use leptos::prelude::{Owner, RenderHtml, provide_context};

        let table: Arc<str> = "<table></table>".into();
        let owner = Owner::new();
        let plain = owner.with(|| SharedHtml::new(table.clone()).to_html());
        assert_eq!(plain, "<table></table>");

        let splice = Splice::default();
        let spliced = owner.with(|| {
            provide_context(splice.clone());
            SharedHtml::new(table.clone()).to_html()
        });
        assert_eq!(spliced, Splice::MARKER);
        assert_eq!(splice.close().as_deref(), Some("<table></table>"));
    }
}
