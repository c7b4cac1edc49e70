//! The HTML of the login-and-consent page.

use super::html_escape;
use crate::oauth::ValidatedAuthorization;

/// Renders the login-and-consent page for a valid authorization request.
///
/// One form, posted to the same URL: the user's name and password, a
/// checkbox per requested scope (all ticked), and Approve / Deny buttons.
/// Hidden fields carry the original request and the CSRF token. Element ids
/// (`username`, `password`, `approve`, `deny`) are stable for tests.
pub(crate) fn consent_page(
    v: &ValidatedAuthorization,
    request: &str,
    csrf_token: &str,
    error: Option<&str>,
) -> String {
    let scopes: String = v
        .scopes
        .iter()
        .map(|s| {
            let s = html_escape(s.as_str());
            format!("<li><label><input type=\"checkbox\" name=\"scope\" value=\"{s}\" checked> <code>{s}</code></label></li>")
        })
        .collect();
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" id=\"error\">{}</p>", html_escape(e))
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to {tenant}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin:.4rem 0}} input[type=text],input[type=password]{{width:100%;padding:.4rem;box-sizing:border-box}}
ul{{list-style:none;padding:0}} .error{{color:#b00020}} button{{padding:.5rem 1.2rem;margin-right:.5rem}}
.muted{{color:#666;font-size:.9rem}}
</style></head>
<body>
<h1>Sign in to {tenant}</h1>
<p><strong>{client}</strong> wants to access your account with these permissions:</p>
{error}
<form method="post" action="">
<input type="hidden" name="request" value="{request}">
<input type="hidden" name="csrf_token" value="{csrf}">
<ul>{scopes}</ul>
<label>Username <input type="text" id="username" name="username" autocomplete="username" required></label>
<label>Password <input type="password" id="password" name="password" autocomplete="current-password" required></label>
<p><button type="submit" id="approve" name="decision" value="approve">Approve</button>
<button type="submit" id="deny" name="decision" value="deny" formnovalidate>Deny</button></p>
</form>
<p class="muted">You will be sent back to <code>{redirect}</code>.</p>
</body></html>"#,
        tenant = html_escape(v.tenant.as_str()),
        client = html_escape(&v.client.name),
        request = html_escape(request),
        csrf = html_escape(csrf_token),
        redirect = html_escape(&v.redirect_uri),
    )
}
