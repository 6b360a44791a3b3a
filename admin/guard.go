package admin

import (
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// open are the requests anyone who reaches the endpoint may make: they
// show health and counts, never a file name, and monitors ask them
// without credentials. /login checks its one-time code itself; the style
// sheet is the page's, and public.
var open = map[string]bool{"/healthz": true, "/metrics": true, "/login": true, "/ui/style.css": true}

// isPage reports whether a path belongs to the status page, which a
// signed-in browser's session cookie may reach, and whose forms post
// urlencoded bodies with a CSRF token.
func isPage(path string) bool { return path == "/" || strings.HasPrefix(path, "/ui/") }

// guard checks every request before its handler, in this order:
//   - Host, on a loopback endpoint: a loopback name or address, or the
//     configured host. A page whose name was rebound to 127.0.0.1 (DNS
//     rebinding) sends its own name and is refused. Off loopback, TLS and
//     basic authentication do that job: such a page has neither.
//   - the origin: a request that a browser marks as coming from another
//     site (Sec-Fetch-Site, else Origin) is refused, whatever its method,
//     so no page can act or read through an admin's browser (CSRF).
//   - a POST's body must be JSON: the "simple" bodies a page may send
//     anywhere without asking (text/plain, forms) are refused; only the
//     status page's own forms (/ui/) post a form, with a CSRF token.
//   - who asks: everything but /healthz, /metrics and /login needs the
//     token (Authorization: Bearer), or a user of the web configuration's
//     basic_auth_users, which exporter-toolkit checked before; the status
//     page (/ and /ui/) also takes a signed-in browser's session cookie.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if s.loopback && !s.allowedHost(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "this endpoint answers only to a loopback address or localhost (Host " +
				quoteHost(r.Host) + " refused): use http://" + s.listen + "/"})
			return
		}
		if crossSite(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused: the admin endpoint answers only to its own pages and to the listdrop commands"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			want, words := "application/json", "JSON (Content-Type: application/json)"
			if isPage(r.URL.Path) {
				// The page's forms, which work without a script; the CSRF
				// token and the SameSite cookie make up for the simple body.
				want, words = "application/x-www-form-urlencoded", "the page's form (application/x-www-form-urlencoded)"
			}
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != want {
				writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "the body must be " + words})
				return
			}
		}
		if open[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if isPage(r.URL.Path) {
			if p := s.principal(r, true); p == "" {
				s.signInPage(w)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if s.principal(r, false) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="listdrop"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "this request needs listdrop's admin token (Authorization: Bearer TOKEN), which the running daemon writes to " +
				s.tokenFile + ", readable by root (Administrators) and the service's user only: the status, history and retry commands send it when run as one of them"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHost reports whether a Host header names this loopback endpoint.
func (s *Server) allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, s.listenHost) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// crossSite reports whether a browser says the request comes from another
// site. Programs (the commands, curl, Prometheus) send neither header.
func crossSite(r *http.Request) bool {
	// A browser that sends Sec-Fetch-Site says it all; Origin may then be
	// "null" for the page's own forms (a no-referrer policy does that).
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// principal names who asks: "token" for the token's holder, "basic:USER"
// for a user of the web configuration's basic_auth_users (whose password
// exporter-toolkit has already checked against the same file; the user
// must still be in the file now), "session:ID" for a signed-in browser
// when cookies are accepted; "" for nobody allowed.
func (s *Server) principal(r *http.Request, cookies bool) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.token != "" {
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t)), []byte(s.token)) == 1 {
			return "token"
		}
		return ""
	}
	if s.webConfig != "" {
		if user, _, ok := r.BasicAuth(); ok {
			if users, err := webUsers(s.webConfig); err == nil && users[user] {
				return "basic:" + user
			}
			return ""
		}
	}
	if cookies {
		if id := s.sessions.session(r); id != "" {
			return "session:" + id
		}
	}
	return ""
}

// authorized reports whether the request may read file names and act
// through the API.
func (s *Server) authorized(r *http.Request) bool { return s.principal(r, false) != "" }

// quoteHost shows a Host header as data: at most 100 bytes, quoted.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100]
	}
	return strconv.Quote(h)
}
