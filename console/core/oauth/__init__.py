"""OAuth2 for mail logins (UI-free): signing in, keeping the sign-in, explaining refusals.

- `microsoft.py`: MSAL's device-code flow and refresh (the built-in sign-in for Microsoft 365
  and Outlook.com; docs/oauth2.md has the app registration recipe and the lab setup).
- `store.py`: the refresh token in the keyring (service "mailconsole", user
  "oauth2:<platform>:<email>"), access tokens in memory, refreshed once per account.
- `explain.py`: why a token was refused, from its claims and the server's reply.
- `session.py`: `SIGN_INS`, the process's one store of sign-ins; `secrets.fetch_secret` asks it
  for an access token whenever a server has `auth = "oauth2"` and no `oauth2_token_command`.

What this relies on (restated from the providers' documentation, December 2026):

- Microsoft access tokens for Exchange Online are JWTs. Their claims tell the causes of a bare
  "AUTHENTICATE failed" apart: `aud` (must be Exchange Online: https://outlook.office.com,
  https://outlook.office365.com or 00000002-0000-0ff1-ce00-000000000000; a Microsoft Graph token
  is refused), `scp` (delegated scopes: IMAP.AccessAsUser.All for IMAP, SMTP.Send for SMTP),
  `roles` (app-only tokens: IMAP.AccessAsApp / SMTP.SendAsApp, which also need the app's
  service principal registered in Exchange and a mailbox permission), `tid` (the tenant), `exp`.
- Google access tokens are opaque; Gmail answers a refused XOAUTH2 login with a base64 JSON
  challenge such as {"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}.
- Exchange Online SMTP replies: 535 5.7.139 "SmtpClientAuthentication is disabled for the Tenant"
  (SMTP AUTH off for the whole tenant, OAuth2 included); 550 5.7.30 "Basic authentication is not
  supported for Client Submission" (a password was sent where only OAuth2 is accepted).
- Refresh tokens rotate: Microsoft returns a new one with every refresh; the newest is kept.

MSAL (and with it requests) is imported only by `microsoft.py`/`session.py`, when a sign-in is
needed, so checks with passwords never pay for it.

Tokens are decoded without verification, only to explain a refusal, and never logged or shown.
"""
