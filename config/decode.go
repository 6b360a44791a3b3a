package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// keyError is one problem with one key. Its message never holds a value
// that could be a secret.
type keyError struct {
	key string // key path, "" for the whole file
	msg string
	err error // underlying error, if any
}

func (e *keyError) Error() string {
	if e.key == "" {
		return e.msg
	}
	return e.key + ": " + e.msg
}

func (e *keyError) Unwrap() error { return e.err }

// problems collects key errors. Once a key has a problem, later problems
// about the same key, its parents or its children are dropped: an unset
// variable in client_secret should not also be reported as "required".
type problems struct {
	list    []*keyError
	covered []string
}

func (p *problems) fail(key, format string, args ...any) {
	p.add(&keyError{key: key, msg: fmt.Sprintf(format, args...)})
}

func (p *problems) failErr(key string, err error) {
	p.add(&keyError{key: key, msg: err.Error(), err: err})
}

func (p *problems) add(errs ...*keyError) {
	for _, e := range errs {
		if p.covers(e.key) {
			continue
		}
		p.list = append(p.list, e)
		p.covered = append(p.covered, e.key)
	}
}

// cover marks keys as dealt with, without reporting anything.
func (p *problems) cover(keys ...string) { p.covered = append(p.covered, keys...) }

func (p *problems) covers(key string) bool {
	for _, c := range p.covered {
		if related(c, key) || related(key, c) {
			return true
		}
	}
	return false
}

// related reports whether key is parent or the same as, or under, parent.
func related(parent, key string) bool {
	if parent == "" || parent == key {
		return true
	}
	if !strings.HasPrefix(key, parent) {
		return false
	}
	next := key[len(parent)]
	return next == '.' || next == '['
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	errs := make([]error, len(p.list))
	for i, e := range p.list {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// maxNodes bounds the values decoded, counting each use of an alias, so
// that a small file of nested aliases cannot take forever. maxDepth bounds
// nesting, which no real config comes near.
const (
	maxNodes = 100_000
	maxDepth = 64
)

// secretKey is the key whose value is the client secret.
const secretKey = "talkdesk.client_secret"

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// decode fills cfg from root and reports whether the caller should go on
// to validate it. yaml.v3's Decode does the filling, after one walk over
// the tree that checks each value against the field it goes to, expands
// ${VAR}, rewrites each value in the form yaml.v3 reads, and puts each
// alias's node in its place, so that maxNodes is the one alias budget
// (yaml.v3's refuses files whose values nearly all come through aliases).
// The walk is needed because Node.Decode has no KnownFields, and yaml.v3's
// messages give a line instead of a key path and quote the start of a
// value (a secret's first characters); it reads "yes" and "on" as true and
// 4.5 as 4, skips a whole mapping over one duplicate key, drops null items
// from lists, and stops at the first bad merge key or self-holding anchor.
func decode(root *yaml.Node, cfg *Config, p *problems, noSecrets bool) bool {
	c := &checker{p: p, noSecrets: noSecrets, open: make(map[*yaml.Node]bool), cycles: make(map[string]bool), seen: make(map[*yaml.Node]scalarSeen)}
	c.check("", root, reflect.TypeOf(cfg).Elem())
	if c.nodes > maxNodes {
		return false // decoding would spend what the budget refused
	}
	if err := root.Decode(cfg); err != nil {
		// Not expected: the walk lets through only what decodes. A type
		// error's message would quote the start of a value.
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			err = errors.New("config holds a value that cannot be decoded")
		}
		p.failErr("", err)
	}
	cfg.Talkdesk.SecretOrigin = c.secretOrigin
	return true
}

// checker is the walk over the node tree.
type checker struct {
	p *problems
	// noSecrets leaves credentials whose variables are unset empty instead
	// of failing (LoadLocal).
	noSecrets bool
	nodes     int
	depth     int
	open      map[*yaml.Node]bool // nodes being checked: the current path
	cycles    map[string]bool     // anchors already reported as cyclic
	tooDeep   bool
	// seen holds the scalars already expanded: an anchored value is
	// reached again through each of its aliases.
	seen map[*yaml.Node]scalarSeen
	// secretOrigin says whether talkdesk.client_secret, if set, is written
	// in the file or only refers to the environment.
	secretOrigin SecretOrigin
}

type scalarSeen struct {
	raw     string // the value as written
	fromEnv bool   // a variable was expanded: the value is never shown
}

// spend counts one node and reports whether the budget allows it.
func (c *checker) spend() bool {
	c.nodes++
	if c.nodes == maxNodes+1 {
		c.p.fail("", "config has too many values (over %d, counting each use of an alias)", maxNodes)
	}
	return c.nodes <= maxNodes
}

// enter resolves aliases in n and puts the result on the current path. It
// refuses an alias to a node already on the path: yaml.v3 parses an anchor
// holding an alias to itself into a cycle, which would never end. When it
// returns true, the caller must call leave with the node returned.
func (c *checker) enter(key string, n *yaml.Node) (*yaml.Node, bool) {
	if !c.spend() {
		return nil, false
	}
	target := unalias(n)
	if c.open[target] {
		if !c.cycles[n.Value] {
			c.cycles[n.Value] = true
			c.p.fail(key, "alias *%s is inside its own anchor &%s", n.Value, n.Value)
		}
		return nil, false
	}
	if c.depth >= maxDepth {
		if !c.tooDeep {
			c.tooDeep = true
			c.p.fail(key, "nested more than %d levels deep", maxDepth)
		}
		return nil, false
	}
	c.open[target] = true
	c.depth++
	return target, true
}

func (c *checker) leave(n *yaml.Node) {
	delete(c.open, n)
	c.depth--
}

// check checks n as a value of type t. A value it reports is made null,
// so that yaml.v3 leaves the field as it is (keys left out or null keep
// their defaults) and does not report it again.
func (c *checker) check(key string, n *yaml.Node, t reflect.Type) {
	target, ok := c.enter(key, n)
	if !ok {
		void(n)
		return
	}
	defer c.leave(target)
	if isNull(target) {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && key == "" && target.Kind != yaml.MappingNode:
		c.p.fail("", "the top level must be a mapping of keys to values, not %s", kindName(target))
		ok = false
	case t.Kind() == reflect.Struct:
		ok = c.want(key, target, yaml.MappingNode, "a mapping of keys to values") && c.mapping(key, target, t)
	case t.Kind() == reflect.Map || t.Kind() == reflect.Interface && target.Kind == yaml.MappingNode:
		ok = c.want(key, target, yaml.MappingNode, "a mapping") && c.mapping(key, target, t)
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Interface && target.Kind == yaml.SequenceNode:
		if ok = c.want(key, target, yaml.SequenceNode, "a list"); ok {
			elem := t
			if t.Kind() == reflect.Slice {
				elem = t.Elem()
			}
			for i, item := range target.Content {
				c.check(fmt.Sprintf("%s[%d]", key, i), item, elem)
				target.Content[i] = unalias(item)
				// yaml.v3 drops a null item from a list of structs or
				// strings; an empty one keeps the positions key paths name.
				switch {
				case !isNull(target.Content[i]):
				case elem.Kind() == reflect.Struct:
					target.Content[i] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				case elem.Kind() == reflect.String:
					target.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str"}
				}
			}
		}
	default:
		ok = c.scalar(key, target, t)
	}
	if !ok {
		void(n)
	}
}

func (c *checker) want(key string, n *yaml.Node, kind yaml.Kind, name string) bool {
	if n.Kind != kind {
		c.p.fail(key, "must be %s, not %s", name, kindName(n))
	}
	return n.Kind == kind
}

// mapping checks the keys and values of a mapping decoded into t, a struct
// or a map. Keys it reports are taken out, so that yaml.v3 neither
// decodes them nor drops the whole mapping over a duplicate.
func (c *checker) mapping(key string, n *yaml.Node, t reflect.Type) bool {
	var fields map[string]int
	if t.Kind() == reflect.Struct {
		fields = fieldsByTag(t)
	}
	seen := make(map[string]bool)
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := unalias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.p.fail(key, "keys must be plain strings, not %s", kindName(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			if val = c.merge(key, val, t); val != nil {
				kept = append(kept, k, val)
			}
			continue
		}
		sub := joinKey(key, k.Value)
		if seen[k.Value] {
			c.p.fail(sub, "duplicate key")
			continue
		}
		seen[k.Value] = true
		elem := t
		if t.Kind() == reflect.Map {
			elem = t.Elem()
		} else if fields != nil {
			field, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if near := nearest(k.Value, t); near != "" {
					msg += " (did you mean " + near + "?)"
				}
				c.p.fail(sub, "%s", msg)
				continue
			}
			elem = t.Field(field).Type
		}
		// Every key is a name: "1: x" in a body is "1", as in JSON.
		k.Tag = "!!str"
		c.check(sub, val, elem)
		kept = append(kept, k, unalias(val))
	}
	n.Content = kept
	return true
}

// merge checks the value of a merge key ("<<"), a mapping or a list of
// mappings merged into the mapping at key, and returns the node to keep in
// its place, nil to take the key out. yaml.v3 applies merges as YAML
// says: the mapping's own keys win, then the first mapping listed.
func (c *checker) merge(key string, val *yaml.Node, t reflect.Type) *yaml.Node {
	target := unalias(val)
	if target.Kind == yaml.MappingNode {
		c.check(key, val, t)
		if isNull(val) {
			return nil // an alias inside its own anchor, reported
		}
		return target
	}
	ok := target.Kind == yaml.SequenceNode
	for i := 0; ok && i < len(target.Content); i++ {
		ok = unalias(target.Content[i]).Kind == yaml.MappingNode
	}
	if !ok {
		c.p.fail(joinKey(key, "<<"), "must be a mapping or a list of mappings")
		return nil
	}
	list, ok := c.enter(key, val)
	if !ok {
		return nil
	}
	defer c.leave(list)
	kept := list.Content[:0]
	for _, item := range list.Content {
		c.check(key, item, t)
		if !isNull(item) {
			kept = append(kept, unalias(item))
		}
	}
	list.Content = kept
	return list
}

// scalar checks a single value of type t, expanding ${VAR} in it, and
// rewrites it as yaml.v3 decodes into t.
func (c *checker) scalar(key string, n *yaml.Node, t reflect.Type) bool {
	want := map[reflect.Type]string{durationType: "a duration", byteSizeType: "a size"}[t]
	if want == "" {
		want = map[reflect.Kind]string{reflect.String: "a string", reflect.Int: "a whole number", reflect.Bool: "true or false"}[t.Kind()]
	}
	if t.Kind() != reflect.Interface {
		if !c.want(key, n, yaml.ScalarNode, want) {
			return false
		}
		n.Tag = "!!str" // read as written, whatever its tag: 5 is "5", !!binary is not decoded
	}
	s, fromEnv, ok := c.expandNode(key, n)
	if !ok {
		return false
	}
	switch {
	case t == durationType:
		dur, err := parseDuration(s)
		if err != nil {
			c.p.fail(key, "invalid duration%s: write a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 24h or 180d", quoteUnlessEnv(s, fromEnv))
			return false
		}
		n.Tag, n.Value = "!!str", dur.String()
	case t == byteSizeType:
		size, err := parseByteSize(s)
		if err != nil {
			c.p.fail(key, "invalid size%s: write a number of bytes, or a number and a unit (kB, MB, GB, KiB, MiB, GiB), e.g. 10MB", quoteUnlessEnv(s, fromEnv))
			return false
		}
		n.Tag, n.Value = "!!int", strconv.FormatInt(int64(size), 10)
	case t.Kind() == reflect.Int:
		i, err := strconv.Atoi(s)
		if err != nil {
			c.p.fail(key, "must be a whole number%s", gotUnlessEnv(s, fromEnv))
			return false
		}
		n.Tag, n.Value = "!!int", strconv.Itoa(i)
	case t.Kind() == reflect.Bool:
		b := strings.ToLower(s)
		if b != "true" && b != "false" {
			c.p.fail(key, "must be true or false%s", gotUnlessEnv(s, fromEnv))
			return false
		}
		n.Tag, n.Value = "!!bool", b
	case key == secretKey:
		c.secretOrigin = SecretInConfig
		if onlyVars(c.seen[n].raw) {
			c.secretOrigin = SecretFromEnv
		}
	}
	return true
}

// expandNode expands ${VAR} in a string scalar, once, in place. It
// returns the value, whether a variable was expanded (then the value is
// withheld from error messages), and false when it reported a problem.
func (c *checker) expandNode(key string, n *yaml.Node) (string, bool, bool) {
	if seen, ok := c.seen[n]; ok {
		return n.Value, seen.fromEnv, true
	}
	if n.ShortTag() != "!!str" {
		return n.Value, false, true
	}
	s, fromEnv, err := expand(n.Value)
	if err != nil {
		if !c.noSecrets || !isSecretKey(key) {
			c.p.failErr(key, err)
			return "", false, false
		}
		s, fromEnv = "", true // not needed by who asked; never read
	}
	c.seen[n] = scalarSeen{raw: n.Value, fromEnv: fromEnv}
	n.Value = s
	return s, fromEnv, true
}

// isSecretKey reports whether key holds a credential: the client secret or
// a callback header value.
func isSecretKey(key string) bool {
	return key == "talkdesk.client_secret" || strings.Contains(key, ".callback_action.headers.")
}

// void makes n null in place.
func void(n *yaml.Node) { *n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"} }

// fieldsByTag maps yaml key names to field indexes; "-" fields are not keys.
func fieldsByTag(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	return fields
}

// nearest suggests the known key closest to a misspelt one.
func nearest(name string, t reflect.Type) string {
	best, bestDist := "", 3
	for known := range fieldsByTag(t) {
		if strings.EqualFold(known, name) || len(name) >= 4 && strings.Contains(known, name) {
			return known
		}
		if dist := editDistance(name, known); dist < bestDist || dist == bestDist && known < best {
			best, bestDist = known, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func unalias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "this kind of value"
}

// quoteUnlessEnv shows a bad value from the file, but never one that came
// from the environment: that may be a secret put in the wrong key.
func quoteUnlessEnv(s string, fromEnv bool) string {
	if fromEnv {
		return " (from the environment)"
	}
	return " " + strconv.Quote(s)
}

func gotUnlessEnv(s string, fromEnv bool) string {
	if fromEnv {
		return " (the value from the environment is not)"
	}
	return ", not " + strconv.Quote(s)
}

// expand replaces each ${NAME} in s with the environment variable NAME.
// "$${" stands for a literal "${"; any other "$" is kept as it is, so a
// literal secret with a "$" in it needs no escaping. It reports whether a
// variable was expanded. Errors name the variable, never its value.
func expand(s string) (string, bool, error) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	expanded := false
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", false, errors.New(`"${" without a closing "}" (write "$${" for a literal "${")`)
			}
			name := s[i+2 : i+2+end]
			if !isVarName(name) {
				return "", false, errors.New(`"${...}" must hold an environment variable name: letters, digits and "_", not starting with a digit (write "$${" for a literal "${")`)
			}
			val, ok := os.LookupEnv(name)
			if !ok {
				return "", false, fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(val)
			expanded = true
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), expanded, nil
}

// onlyVars reports whether s is nothing but ${VAR} references, so that the
// file holds no part of the value itself.
func onlyVars(s string) bool {
	if s == "" {
		return false
	}
	for s != "" {
		if !strings.HasPrefix(s, "${") {
			return false
		}
		end := strings.IndexByte(s, '}')
		if end < 0 || !isVarName(s[2:end]) {
			return false
		}
		s = s[end+1:]
	}
	return true
}

func isVarName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// parseDuration is time.ParseDuration plus whole days ("180d"), which
// retention periods are naturally written in.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("invalid number of days %q", n)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
