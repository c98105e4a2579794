#!/bin/sh
# LemonLDAP::NG (2.16, Debian 12's lemonldap-ng) logging professionals in with Pro Santé
# Connect (PSC) or santeid, configured as LemonLDAP::NG's page "Pro Santé Connect" says
# (https://lemonldap-ng.org/documentation/latest/authopenidconnect_prosanteconnect.html): an
# OpenID Connect provider "psc-connect", its metadata set by hand from the discovery document,
# its JWKS imported into the configuration, the attributes exported from userinfo, the client's
# id and secret, scope "openid scope_all", ACR values "eidas1". The Manager's steps, made with
# lemonldap-ng-cli on the configuration the portal reads (LLNG_DEFAULTCONFFILE, else
# /etc/lemonldap-ng/lemonldap-ng.ini). README.md lists the variables; santeid's tests run this
# file as it is (tests/e2e/test_lemonldap_ng.py).
#
# PSC (BAS):  PSC_METADATA_URL=https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration
# santeid:    PSC_METADATA_URL=http://127.0.0.1:5000/auth/realms/esante-wallet/.well-known/wallet-openid-configuration
set -eu

: "${PSC_METADATA_URL:?the discovery document's URL}"
: "${PSC_CLIENT_ID:?the client_id PSC gave}"
: "${PSC_CLIENT_SECRET:?the client_secret PSC gave}"
OP="${PSC_OP:-psc-connect}"
CLI="${LLNG_CLI:-/usr/share/lemonldap-ng/bin/lemonldap-ng-cli}"

# Optional: the authority of a test server's certificate (santeid tls dev-cert's ca.pem).
fetch() {
  if [ -n "${PSC_CA_BUNDLE:-}" ]; then
    curl -fsS --cacert "$PSC_CA_BUNDLE" "$1"
  else
    curl -fsS "$1"
  fi
}

# "Click on Metadata and set manually the metadata of the service": the discovery document as
# it is (the wallet document names PSC's wallet as authorization_endpoint).
metadata="$(fetch "$PSC_METADATA_URL")"
# "Import JWKS data directly in configuration to avoid requests to reload them".
jwks_uri="$(printf '%s' "$metadata" | perl -MJSON::PP -0777 -ne 'print decode_json($_)->{jwks_uri}')"
jwks="$(fetch "$jwks_uri")"

# The portal authenticates with OpenID Connect, the user's attributes from the same provider.
"$CLI" -yes 1 set \
  authentication OpenIDConnect \
  userDB Same \
  passwordDB Null \
  registerDB Null

"$CLI" -yes 1 addKey \
  oidcOPMetaDataJSON "$OP" "$metadata" \
  oidcOPMetaDataJWKS "$OP" "$jwks" \
  "oidcOPMetaDataExportedVars/$OP" uid SubjectNameID \
  "oidcOPMetaDataExportedVars/$OP" SubjectNameID SubjectNameID \
  "oidcOPMetaDataExportedVars/$OP" given_name given_name \
  "oidcOPMetaDataExportedVars/$OP" family_name family_name \
  "oidcOPMetaDataExportedVars/$OP" preferred_username preferred_username \
  "oidcOPMetaDataExportedVars/$OP" SubjectRefPro SubjectRefPro \
  "oidcOPMetaDataExportedVars/$OP" SubjectOrganization SubjectOrganization \
  "oidcOPMetaDataExportedVars/$OP" SubjectRole SubjectRole \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsConfigurationURI "$PSC_METADATA_URL" \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsClientID "$PSC_CLIENT_ID" \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsClientSecret "$PSC_CLIENT_SECRET" \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsTokenEndpointAuthMethod client_secret_post \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsScope "openid scope_all" \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsAcrValues eidas1 \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsUseNonce 1 \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsCheckJWTSignature 1 \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsStoreIDToken 1 \
  "oidcOPMetaDataOptions/$OP" oidcOPMetaDataOptionsDisplayName "Pro Santé Connect"
