"""OAuth2 for mail logins (UI-free): explaining why a token was refused.

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

Tokens are decoded without verification, only to explain a refusal, and never logged or shown.
"""
