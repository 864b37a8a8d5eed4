"""Campus single sign-on: CAS (python-cas) and OIDC (authlib), wrapped so that every call has a
timeout, every XML answer is parsed safely, and nothing the identity provider sends can turn
into a 500 or an open redirect."""
