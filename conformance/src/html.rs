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
