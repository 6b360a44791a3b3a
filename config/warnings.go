package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Warnings returns what `listdrop validate` prints and `listdrop run` logs
// about a configuration that works but exposes something: SecretWarnings,
// then CallbackWarnings.
func (c *Config) Warnings() []string {
	return append(c.SecretWarnings(), c.CallbackWarnings()...)
}

// CallbackWarnings returns one warning for each folder whose
// callback_action endpoint is plain http to another machine: Talkdesk
// would send its headers, often an API key, in clear. The URL is not
// echoed (it may carry a credential); the key names it.
func (c *Config) CallbackWarnings() []string {
	var out []string
	for i, f := range c.Folders {
		if f.CallbackAction == nil {
			continue
		}
		u, err := url.Parse(f.CallbackAction.Endpoint)
		if err != nil || !strings.EqualFold(u.Scheme, "http") || isLoopback(u.Hostname()) {
			continue
		}
		what := "its body"
		if len(f.CallbackAction.Headers) > 0 {
			what = "its headers (often an API key) and its body"
		}
		out = append(out, fmt.Sprintf("folders[%d].callback_action.endpoint is plain http: Talkdesk will send %s in clear to %s; use an https URL",
			i, what, u.Hostname()))
	}
	return out
}
