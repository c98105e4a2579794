// A Pro Santé Connect service and API written with go-oidc (github.com/coreos/go-oidc, the
// 2.x release Debian 12 packages) and golang.org/x/oauth2, configured as go-oidc's README
// says with the issuer of santeid's realm in place of PSC's:
// https://github.com/coreos/go-oidc/blob/v2.1.0/README.md
//
// The service: /login redirects to the authorization endpoint with a state, a nonce and a PKCE
// S256 verifier kept in cookies (go-oidc's example/nonce/app.go keeps a nonce); /callback
// checks the state, exchanges the code with the verifier,
// verifies the ID token (Verifier with the client's ID), its nonce and at_hash, calls userinfo
// and shows what it got as JSON; /refresh refreshes the session's tokens through the
// TokenSource; /userinfo calls userinfo with the session's access token.
//
// The API: /api verifies a Bearer access token with go-oidc's Verifier (SkipClientIDCheck:
// PSC's access tokens carry no aud) and requires the claim typ "Bearer"; /api/audience
// verifies it as the README configures a verifier, with ClientID.
//
// /stats tells how many times the JWK Set was fetched. Every error is shown as JSON
// {"error": …} with a 4xx or 5xx status.
//
// Environment: PORT, BASE_URL (the service's own origin), ISSUER, CLIENT_ID, CLIENT_SECRET;
// DISCOVERY_URL: PSC's wallet discovery document, read by the service itself (NewProvider
// reads {issuer}/.well-known/openid-configuration only), with oidc.NewRemoteKeySet and
// oidc.NewVerifier;
// AUTH_STYLE=header: the client secret by HTTP Basic only (oauth2.AuthStyleInHeader);
// ID_TOKEN_ALGS=discovery: the verifier accepts the algorithms of the discovery document's
// id_token_signing_alg_values_supported (go-oidc 2.x's default is RS256 alone).
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	oidc "github.com/coreos/go-oidc"
	"golang.org/x/oauth2"
)

// countingTransport counts the requests made to the JWK Set.
type countingTransport struct {
	jwksURI string
	fetches int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == t.jwksURI {
		atomic.AddInt64(&t.fetches, 1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

type service struct {
	provider       *oidc.Provider // nil when configured from PSC's wallet discovery document
	userInfoURL    string
	config         oauth2.Config
	verifier       *oidc.IDTokenVerifier
	accessVerifier *oidc.IDTokenVerifier
	readmeVerifier *oidc.IDTokenVerifier
	transport      *countingTransport
	ctx            context.Context

	mu       sync.Mutex
	sessions map[string]*oauth2.Token
}

func random() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func show(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Print(err)
	}
}

func failed(w http.ResponseWriter, status int, err error) {
	show(w, status, map[string]string{"error": err.Error()})
}

func cookie(w http.ResponseWriter, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, MaxAge: 600})
}

func (s *service) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := random(), random(), random()+random()
	cookie(w, "go_state", state)
	cookie(w, "go_nonce", nonce)
	cookie(w, "go_verifier", verifier)
	// x/oauth2 0.3 has no PKCE helpers: the challenge is an extra parameter (RFC 7636 §4.2).
	challenge := sha256.Sum256([]byte(verifier))
	url := s.config.AuthCodeURL(state, oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("acr_values", "eidas1"),
		oauth2.SetAuthURLParam("code_challenge", base64.RawURLEncoding.EncodeToString(challenge[:])),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"))
	http.Redirect(w, r, url, http.StatusFound)
}

// tokenShown is what the service shows of an oauth2.Token, its extra fields included.
func tokenShown(t *oauth2.Token) map[string]interface{} {
	shown := map[string]interface{}{
		"access_token":  t.AccessToken,
		"token_type":    t.TokenType,
		"refresh_token": t.RefreshToken,
		"expiry":        t.Expiry.Unix(),
	}
	for _, name := range []string{"id_token", "scope", "session_state", "refresh_expires_in", "not-before-policy"} {
		shown[name] = t.Extra(name)
	}
	return shown
}

// verifiedIDToken verifies the token response's ID token and its at_hash: its claims.
func (s *service) verifiedIDToken(t *oauth2.Token) (*oidc.IDToken, map[string]interface{}, error) {
	raw, ok := t.Extra("id_token").(string)
	if !ok {
		return nil, nil, errors.New("no id_token in the token response")
	}
	idToken, err := s.verifier.Verify(s.ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	if err := idToken.VerifyAccessToken(t.AccessToken); err != nil {
		return nil, nil, err
	}
	var claims map[string]interface{}
	if err := idToken.Claims(&claims); err != nil {
		return nil, nil, err
	}
	return idToken, claims, nil
}

func (s *service) userinfo(source oauth2.TokenSource) (map[string]interface{}, error) {
	var claims map[string]interface{}
	if s.provider == nil {
		// Without a Provider, userinfo is a plain call with the access token.
		answer, err := oauth2.NewClient(s.ctx, source).Get(s.userInfoURL)
		if err != nil {
			return nil, err
		}
		defer answer.Body.Close()
		if answer.StatusCode != http.StatusOK {
			return nil, errors.New("userinfo: " + answer.Status)
		}
		if err := json.NewDecoder(answer.Body).Decode(&claims); err != nil {
			return nil, err
		}
		return claims, nil
	}
	info, err := s.provider.UserInfo(s.ctx, source)
	if err != nil {
		return nil, err
	}
	if err := info.Claims(&claims); err != nil {
		return nil, err
	}
	claims["go_oidc_subject"] = info.Subject
	return claims, nil
}

func (s *service) callback(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	if e := query.Get("error"); e != "" {
		show(w, http.StatusBadRequest, map[string]string{
			"error": e, "error_description": query.Get("error_description"),
		})
		return
	}
	state, err := r.Cookie("go_state")
	if err != nil || query.Get("state") != state.Value {
		failed(w, http.StatusBadRequest, errors.New("state did not match"))
		return
	}
	verifier, err := r.Cookie("go_verifier")
	if err != nil {
		failed(w, http.StatusBadRequest, err)
		return
	}
	token, err := s.config.Exchange(s.ctx, query.Get("code"),
		oauth2.SetAuthURLParam("code_verifier", verifier.Value))
	if err != nil {
		failed(w, http.StatusInternalServerError, err)
		return
	}
	idToken, claims, err := s.verifiedIDToken(token)
	if err != nil {
		failed(w, http.StatusInternalServerError, err)
		return
	}
	nonce, err := r.Cookie("go_nonce")
	if err != nil || idToken.Nonce != nonce.Value {
		failed(w, http.StatusBadRequest, errors.New("nonce did not match"))
		return
	}
	info, err := s.userinfo(oauth2.StaticTokenSource(token))
	if err != nil {
		failed(w, http.StatusInternalServerError, err)
		return
	}
	session := random()
	s.mu.Lock()
	s.sessions[session] = token
	s.mu.Unlock()
	cookie(w, "go_session", session)
	show(w, http.StatusOK, map[string]interface{}{
		"token":    tokenShown(token),
		"id_token": claims,
		"verified": map[string]interface{}{
			"issuer": idToken.Issuer, "audience": idToken.Audience, "subject": idToken.Subject,
			"expiry": idToken.Expiry.Unix(), "nonce": idToken.Nonce,
			"at_hash": idToken.AccessTokenHash,
		},
		"userinfo": info,
	})
}

func (s *service) session(r *http.Request) (string, *oauth2.Token, error) {
	c, err := r.Cookie("go_session")
	if err != nil {
		return "", nil, errors.New("no session")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	token, ok := s.sessions[c.Value]
	if !ok {
		return "", nil, errors.New("no session")
	}
	return c.Value, token, nil
}

// refresh: the session's access token has expired (its Expiry set in the past): the
// TokenSource refreshes it before userinfo is called with it.
func (s *service) refresh(w http.ResponseWriter, r *http.Request) {
	session, old, err := s.session(r)
	if err != nil {
		failed(w, http.StatusUnauthorized, err)
		return
	}
	expired := *old
	expired.Expiry = time.Now().Add(-time.Second)
	source := s.config.TokenSource(s.ctx, &expired)
	info, err := s.userinfo(source)
	if err != nil {
		failed(w, http.StatusInternalServerError, err)
		return
	}
	fresh, err := source.Token()
	if err != nil {
		failed(w, http.StatusInternalServerError, err)
		return
	}
	_, claims, err := s.verifiedIDToken(fresh)
	if err != nil {
		failed(w, http.StatusInternalServerError, err)
		return
	}
	s.mu.Lock()
	s.sessions[session] = fresh
	s.mu.Unlock()
	show(w, http.StatusOK, map[string]interface{}{
		"old": tokenShown(old), "new": tokenShown(fresh), "id_token": claims, "userinfo": info,
	})
}

func (s *service) userinfoRoute(w http.ResponseWriter, r *http.Request) {
	_, token, err := s.session(r)
	if err != nil {
		failed(w, http.StatusUnauthorized, err)
		return
	}
	info, err := s.userinfo(oauth2.StaticTokenSource(token))
	if err != nil {
		failed(w, http.StatusBadGateway, err)
		return
	}
	show(w, http.StatusOK, info)
}

func bearer(r *http.Request) string {
	header := r.Header.Get("Authorization")
	if !strings.HasPrefix(header, "Bearer ") {
		return ""
	}
	return strings.TrimPrefix(header, "Bearer ")
}

// api: what a Go API does with a PSC access token.
func (s *service) api(verifier *oidc.IDTokenVerifier) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, err := verifier.Verify(r.Context(), bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			failed(w, http.StatusUnauthorized, err)
			return
		}
		var claims map[string]interface{}
		if err := token.Claims(&claims); err != nil {
			failed(w, http.StatusUnauthorized, err)
			return
		}
		// The verifier reads any JWT of the realm as an ID token: an ID token of the realm
		// passes it too. PSC's access tokens say typ "Bearer", its ID tokens "ID".
		if claims["typ"] != "Bearer" {
			failed(w, http.StatusUnauthorized, errors.New("not an access token: typ is not Bearer"))
			return
		}
		show(w, http.StatusOK, claims)
	}
}

// metadata is what the service reads of the discovery document.
type metadata struct {
	Issuer      string   `json:"issuer"`
	AuthURL     string   `json:"authorization_endpoint"`
	TokenURL    string   `json:"token_endpoint"`
	JWKSURI     string   `json:"jwks_uri"`
	UserInfoURL string   `json:"userinfo_endpoint"`
	Algs        []string `json:"id_token_signing_alg_values_supported"`
}

// walletMetadata reads PSC's wallet discovery document, whose path NewProvider cannot be
// given, and checks its issuer as NewProvider checks the standard one's.
func walletMetadata(ctx context.Context, client *http.Client, url, issuer string) metadata {
	answer, err := client.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer answer.Body.Close()
	var doc metadata
	if err := json.NewDecoder(answer.Body).Decode(&doc); err != nil {
		log.Fatal(err)
	}
	if doc.Issuer != issuer {
		log.Fatalf("issuer did not match: expected %q got %q", issuer, doc.Issuer)
	}
	return doc
}

func main() {
	transport := &countingTransport{}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	ctx := oidc.ClientContext(context.Background(), client)
	issuer := os.Getenv("ISSUER")
	clientID := os.Getenv("CLIENT_ID")
	idConfig := &oidc.Config{ClientID: clientID}
	var doc metadata
	var provider *oidc.Provider
	var verifier func(*oidc.Config) *oidc.IDTokenVerifier
	var endpoint oauth2.Endpoint
	if wallet := os.Getenv("DISCOVERY_URL"); wallet != "" {
		// PSC's wallet discovery document: the verifier on a RemoteKeySet of its jwks_uri,
		// the endpoints from the document (its authorization_endpoint: PSC's wallet).
		doc = walletMetadata(ctx, client, wallet, issuer)
		keySet := oidc.NewRemoteKeySet(ctx, doc.JWKSURI)
		verifier = func(c *oidc.Config) *oidc.IDTokenVerifier { return oidc.NewVerifier(issuer, keySet, c) }
		endpoint = oauth2.Endpoint{AuthURL: doc.AuthURL, TokenURL: doc.TokenURL}
	} else {
		var err error
		provider, err = oidc.NewProvider(ctx, issuer)
		if err != nil {
			log.Fatal(err)
		}
		if err := provider.Claims(&doc); err != nil {
			log.Fatal(err)
		}
		verifier = provider.Verifier
		endpoint = provider.Endpoint()
	}
	transport.jwksURI = doc.JWKSURI
	if os.Getenv("AUTH_STYLE") == "header" {
		// Without it x/oauth2 probes: HTTP Basic, then, on any error, the secret in the form.
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	if os.Getenv("ID_TOKEN_ALGS") == "discovery" {
		idConfig.SupportedSigningAlgs = doc.Algs
	}
	s := &service{
		provider:    provider,
		userInfoURL: doc.UserInfoURL,
		config: oauth2.Config{
			ClientID:     clientID,
			ClientSecret: os.Getenv("CLIENT_SECRET"),
			RedirectURL:  os.Getenv("BASE_URL") + "/callback",
			Endpoint:     endpoint,
			Scopes:       []string{oidc.ScopeOpenID, "scope_all"},
		},
		verifier:       verifier(idConfig),
		accessVerifier: verifier(&oidc.Config{SkipClientIDCheck: true}),
		readmeVerifier: verifier(&oidc.Config{ClientID: clientID}),
		transport:      transport,
		ctx:            ctx,
		sessions:       map[string]*oauth2.Token{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { show(w, 200, "ok") })
	mux.HandleFunc("/login", s.login)
	mux.HandleFunc("/callback", s.callback)
	mux.HandleFunc("/refresh", s.refresh)
	mux.HandleFunc("/userinfo", s.userinfoRoute)
	mux.HandleFunc("/api", s.api(s.accessVerifier))
	mux.HandleFunc("/api/audience", s.api(s.readmeVerifier))
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		show(w, 200, map[string]int64{"jwks_fetches": atomic.LoadInt64(&transport.fetches)})
	})
	addr := "127.0.0.1:" + os.Getenv("PORT")
	log.Printf("listening on http://%s/", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
