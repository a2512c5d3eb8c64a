"""LTI 1.3 launch: OIDC login, id_token validation, JWKS, dynamic registration, deep linking.

Specs: LTI Core 1.3 (https://www.imsglobal.org/spec/lti/v1p3/), 1EdTech Security Framework 1.0
(https://www.imsglobal.org/spec/security/v1p0/). The checklist this implements is in LTI.md.
"""
