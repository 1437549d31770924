//! Just enough HTML to drive our own pages like the suite's browser does: forms, their inputs
//! and buttons, found by element id. Attribute values are unescaped for the entities askama emits.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub id: Option<String>,
    pub action: String,
    pub method: String,
    /// name, value, id, kind ("input type" or "button")
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Option<String>,
    pub value: String,
    pub id: Option<String>,
    pub kind: String,
    /// Checkboxes and radio buttons: whether they are ticked (only those are submitted).
    pub checked: bool,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The attributes of one start tag (`<input a="b" c>`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start_matches('<');
    // skip the tag name
    rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('>') || rest.starts_with("/>") {
            break;
        }
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == '>')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        if let Some(r) = rest.strip_prefix('=') {
            let (value, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &r[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], &body[(end + 1).min(body.len())..])
                }
                _ => {
                    let end = r
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(r.len());
                    (&r[..end], &r[end..])
                }
            };
            out.push((name, unescape(value)));
            rest = after;
        } else {
            if name.is_empty() {
                break;
            }
            out.push((name, String::new()));
        }
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every form of a page.
pub fn forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<form").map(|i| i + from) {
        let tag_end = lower[start..]
            .find('>')
            .map_or(lower.len(), |i| i + start + 1);
        let end = lower[tag_end..]
            .find("</form>")
            .map_or(lower.len(), |i| i + tag_end);
        let attrs = attributes(&html[start..tag_end]);
        let body = &html[tag_end..end];
        let body_lower = &lower[tag_end..end];
        let mut fields = Vec::new();
        for element in ["<input", "<button"] {
            let mut pos = 0;
            while let Some(i) = body_lower[pos..].find(element).map(|i| i + pos) {
                let close = body_lower[i..].find('>').map_or(body.len(), |j| j + i + 1);
                let a = attributes(&body[i..close]);
                let kind = if element == "<button" {
                    "button".to_owned()
                } else {
                    attr(&a, "type").unwrap_or("text").to_ascii_lowercase()
                };
                fields.push(Field {
                    name: attr(&a, "name").map(str::to_owned),
                    value: attr(&a, "value").unwrap_or_default().to_owned(),
                    id: attr(&a, "id").map(str::to_owned),
                    checked: attr(&a, "checked").is_some(),
                    kind,
                });
                pos = close;
            }
        }
        out.push(Form {
            id: attr(&attrs, "id").map(str::to_owned),
            action: attr(&attrs, "action").unwrap_or_default().to_owned(),
            method: attr(&attrs, "method").unwrap_or("get").to_ascii_lowercase(),
            fields,
        });
        from = end;
    }
    out
}

/// The text of the element whose id is `id` (`<strong id="otp-reference">K7QF</strong>` gives
/// `K7QF`): the markup between its start tag and the next end tag of its name, without inner
/// tags, entities unescaped, whitespace runs as one space and trimmed. A void or self-closed
/// element has empty text; `None` when no element has the id.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(start) = html[from..].find('<').map(|i| i + from) {
        from = start + 1;
        if html[start..].starts_with("<!--") {
            from = html[start..]
                .find("-->")
                .map_or(html.len(), |i| i + start + 3);
            continue;
        }
        let name: String = html[start + 1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            // An end tag, a comment or a stray `<`.
            continue;
        }
        let tag_end = html[start..]
            .find('>')
            .map_or(html.len(), |i| i + start + 1);
        let tag = &html[start..tag_end];
        if attr(&attributes(tag), "id") != Some(id) {
            continue;
        }
        if tag.ends_with("/>") || VOID.contains(&name.as_str()) {
            return Some(String::new());
        }
        let close = format!("</{name}");
        let end = lower[tag_end..]
            .find(&close)
            .map_or(html.len(), |i| i + tag_end);
        return Some(text_of(&html[tag_end..end]));
    }
    None
}

/// The elements that have no end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// The text of a run of markup: tags dropped, entities unescaped, whitespace collapsed.
fn text_of(markup: &str) -> String {
    let mut text = String::new();
    let mut rest = markup;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        rest = rest[open..].find('>').map_or("", |i| &rest[open + i + 1..]);
    }
    text.push_str(rest);
    unescape(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Form {
    pub fn has_element(&self, id: &str) -> bool {
        self.fields.iter().any(|f| f.id.as_deref() == Some(id))
    }

    /// The values this form submits when the element `clicked` is clicked: every non-button
    /// field (checkboxes and radio buttons only when ticked), plus the clicked button's own name
    /// and value.
    pub fn submission(&self, clicked: &str) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|f| match f.kind.as_str() {
                "button" | "submit" => f.id.as_deref() == Some(clicked),
                "checkbox" | "radio" => f.checked,
                _ => true,
            })
            .filter_map(|f| f.name.clone().map(|n| (n, f.value.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_elements_text_by_id() {
        let html = r#"<main><p id="intro">We sent a code to <b>+44 7700 900461</b>
          &amp; it expires soon.</p>
          <p>Reference: <strong class="ref" id="otp-reference">K7QF</strong></p>
          <P ID='upper'> Mixed </P>
          <input id="otp" name="otp" value="x"><br id="gap"/>
          <!-- <span id="commented">no</span> --></main>"#;
        assert_eq!(element_text(html, "otp-reference").as_deref(), Some("K7QF"));
        assert_eq!(
            element_text(html, "intro").as_deref(),
            Some("We sent a code to +44 7700 900461 & it expires soon."),
            "inner tags dropped, entities unescaped, whitespace collapsed"
        );
        assert_eq!(element_text(html, "upper").as_deref(), Some("Mixed"));
        assert_eq!(element_text(html, "gap").as_deref(), Some(""));
        assert_eq!(
            element_text(html, "otp").as_deref(),
            Some(""),
            "a void element"
        );
        assert_eq!(
            element_text(html, "commented"),
            None,
            "comments are not markup"
        );
        assert_eq!(element_text(html, "missing"), None);
        assert_eq!(element_text(html, "otp-ref"), None, "ids match whole");
        assert_eq!(
            element_text("<p id=\"open\">never closed", "open").as_deref(),
            Some("never closed")
        );
    }

    #[test]
    fn finds_forms_fields_and_buttons() {
        let html = r#"<form method="post" action="/login" id="login-form">
          <input type="hidden" name="csrf_token" value="a&amp;b">
          <input type="text" id="username" name="username" value="" required autofocus>
          <button type="submit" id="login-submit" class="primary">Sign in</button></form>
          <form method="post" action="/authorize/decision"><button name="decision" value="approve" id="ok">Allow</button>
          <button name="decision" value="deny" id="no">No</button>
          <input type="checkbox" name="account" value="a1" id="account-a1" checked>
          <input type="checkbox" name="account" value="a2" id="account-a2">
          <input type="radio" name="debtor_account" value="d1" checked><input type="radio" name="debtor_account" value="d2"></form>"#;
        let f = forms(html);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].action, "/login");
        assert!(f[0].has_element("username"));
        assert_eq!(
            f[0].submission("login-submit"),
            [
                ("csrf_token".to_owned(), "a&b".to_owned()),
                ("username".to_owned(), String::new())
            ]
        );
        assert_eq!(
            f[1].submission("no"),
            [
                ("account".to_owned(), "a1".to_owned()),
                ("debtor_account".to_owned(), "d1".to_owned()),
                ("decision".to_owned(), "deny".to_owned())
            ],
            "only ticked boxes and the chosen radio button"
        );
    }
}
