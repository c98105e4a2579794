// The library as an application imports it, exposed to the test pages as the global OidcSpa
// (esbuild's --global-name): oidcEarlyInit and createOidc from its core, its Keycloak utilities.
export { oidcEarlyInit, createOidc, OidcInitializationError } from 'oidc-spa/core';
export { isKeycloak, createKeycloakUtils } from 'oidc-spa/keycloak';
// Its DPoP defence (https://docs.oidc-spa.dev/v/v10/security-features/dpop), given to oidcEarlyInit.
export { DPoP } from 'oidc-spa/DPoP';
