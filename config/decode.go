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

// decoder fills a value from a YAML node tree, following the yaml struct
// tags. It exists, rather than yaml's own Decode with KnownFields, so that
// each error names its full key path, so that ${VAR} is expanded in each
// string after parsing, and so that keys left out keep their defaults.
type decoder struct {
	p *problems
	// noSecrets leaves credentials whose variables are unset empty instead
	// of failing (LoadLocal).
	noSecrets bool
	nodes     int
	depth     int
	open      map[*yaml.Node]bool // nodes being decoded: the current path
	cycles    map[string]bool     // anchors already reported as cyclic
	tooDeep   bool
	// secretOrigin says whether talkdesk.client_secret, if set, is written
	// in the file or only refers to the environment.
	secretOrigin SecretOrigin
}

// secretKey is the key whose value is the client secret.
const secretKey = "talkdesk.client_secret"

var (
	durationType  = reflect.TypeFor[time.Duration]()
	byteSizeType  = reflect.TypeFor[ByteSize]()
	stringMapType = reflect.TypeFor[map[string]string]()
	anyMapType    = reflect.TypeFor[map[string]any]()
)

// spend counts one node and reports whether the budget allows it.
func (d *decoder) spend() bool {
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.p.fail("", "config has too many values (over %d, counting each use of an alias)", maxNodes)
	}
	return d.nodes <= maxNodes
}

// enter resolves aliases in n and puts the result on the current path. It
// refuses an alias to a node already on the path: yaml.v3 parses an anchor
// holding an alias to itself into a cycle, which would never end. When it
// returns true, the caller must call leave with the node returned.
func (d *decoder) enter(key string, n *yaml.Node) (*yaml.Node, bool) {
	if !d.spend() {
		return nil, false
	}
	target := unalias(n)
	if d.open[target] {
		if d.cycles == nil {
			d.cycles = make(map[string]bool)
		}
		if !d.cycles[n.Value] {
			d.cycles[n.Value] = true
			d.p.fail(key, "alias *%s is inside its own anchor &%s", n.Value, n.Value)
		}
		return nil, false
	}
	if d.depth >= maxDepth {
		if !d.tooDeep {
			d.tooDeep = true
			d.p.fail(key, "nested more than %d levels deep", maxDepth)
		}
		return nil, false
	}
	if d.open == nil {
		d.open = make(map[*yaml.Node]bool)
	}
	d.open[target] = true
	d.depth++
	return target, true
}

func (d *decoder) leave(n *yaml.Node) {
	delete(d.open, n)
	d.depth--
}

// decode fills v from n. A null node leaves v as it is, so a key with no
// value keeps its default.
func (d *decoder) decode(key string, n *yaml.Node, v reflect.Value) {
	n, ok := d.enter(key, n)
	if !ok {
		return
	}
	defer d.leave(n)
	if isNull(n) {
		return
	}
	d.fill(key, n, v)
}

// fill fills v from n, a node already entered and not null.
func (d *decoder) fill(key string, n *yaml.Node, v reflect.Value) {
	t := v.Type()
	switch {
	case t == durationType:
		s, fromEnv, ok := d.scalar(key, n, "a duration")
		if !ok {
			return
		}
		dur, err := parseDuration(s)
		if err != nil {
			d.p.fail(key, "invalid duration%s: write a number and a unit (ms, s, m, h, d), e.g. 30s, 5m, 24h or 180d", quoteUnlessEnv(s, fromEnv))
			return
		}
		v.SetInt(int64(dur))
	case t == byteSizeType:
		s, fromEnv, ok := d.scalar(key, n, "a size")
		if !ok {
			return
		}
		size, err := parseByteSize(s)
		if err != nil {
			d.p.fail(key, "invalid size%s: write a number of bytes, or a number and a unit (kB, MB, GB, KiB, MiB, GiB), e.g. 10MB", quoteUnlessEnv(s, fromEnv))
			return
		}
		v.SetInt(int64(size))
	case t.Kind() == reflect.Pointer:
		ptr := reflect.New(t.Elem())
		d.fill(key, n, ptr.Elem())
		v.Set(ptr)
	case t.Kind() == reflect.Struct:
		d.structure(key, n, v)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.p.fail(key, "must be a list, not %s", kindName(n))
			return
		}
		list := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(fmt.Sprintf("%s[%d]", key, i), item, list.Index(i))
		}
		v.Set(list)
	case t == stringMapType:
		d.stringMap(key, n, v)
	case t == anyMapType:
		if n.Kind != yaml.MappingNode {
			d.p.fail(key, "must be a mapping, not %s", kindName(n))
			return
		}
		v.Set(reflect.ValueOf(d.anyMap(key, n)))
	case t.Kind() == reflect.String:
		if s, _, ok := d.scalar(key, n, "a string"); ok {
			v.SetString(s)
			if key == secretKey {
				d.secretOrigin = SecretInConfig
				if onlyVars(n.Value) {
					d.secretOrigin = SecretFromEnv
				}
			}
		}
	case t.Kind() == reflect.Int:
		s, fromEnv, ok := d.scalar(key, n, "a whole number")
		if !ok {
			return
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			d.p.fail(key, "must be a whole number%s", gotUnlessEnv(s, fromEnv))
			return
		}
		v.SetInt(int64(i))
	case t.Kind() == reflect.Bool:
		s, fromEnv, ok := d.scalar(key, n, "true or false")
		if !ok {
			return
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.p.fail(key, "must be true or false%s", gotUnlessEnv(s, fromEnv))
		}
	default:
		panic("config: no decoding for field type " + t.String())
	}
}

// structure fills a struct from a mapping, refusing keys it does not know.
func (d *decoder) structure(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		if key == "" {
			d.p.fail("", "the top level must be a mapping of keys to values, not %s", kindName(n))
		} else {
			d.p.fail(key, "must be a mapping of keys to values, not %s", kindName(n))
		}
		return
	}
	fields := fieldsByTag(v.Type())
	for _, kv := range d.pairs(key, n) {
		sub := joinKey(key, kv.name)
		i, ok := fields[kv.name]
		if !ok {
			msg := "unknown key"
			if near := nearest(kv.name, v.Type()); near != "" {
				msg += " (did you mean " + near + "?)"
			}
			d.p.fail(sub, "%s", msg)
			continue
		}
		d.decode(sub, kv.val, v.Field(i))
	}
}

func (d *decoder) stringMap(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.p.fail(key, "must be a mapping, not %s", kindName(n))
		return
	}
	m := make(map[string]string)
	for _, kv := range d.pairs(key, n) {
		if !d.spend() {
			return
		}
		val := unalias(kv.val)
		if isNull(val) {
			m[kv.name] = ""
			continue
		}
		if s, _, ok := d.scalar(joinKey(key, kv.name), val, "a string"); ok {
			m[kv.name] = s
		}
	}
	v.Set(reflect.ValueOf(m))
}

func (d *decoder) anyMap(key string, n *yaml.Node) map[string]any {
	m := make(map[string]any)
	for _, kv := range d.pairs(key, n) {
		m[kv.name] = d.anyValue(joinKey(key, kv.name), kv.val)
	}
	return m
}

// anyValue turns a node into what encoding/json expects: strings (expanded),
// numbers, booleans, nil, map[string]any and []any.
func (d *decoder) anyValue(key string, n *yaml.Node) any {
	n, ok := d.enter(key, n)
	if !ok {
		return nil
	}
	defer d.leave(n)
	switch n.Kind {
	case yaml.MappingNode:
		return d.anyMap(key, n)
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, item := range n.Content {
			list[i] = d.anyValue(fmt.Sprintf("%s[%d]", key, i), item)
		}
		return list
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!str":
			s, _, _ := d.scalar(key, n, "a string")
			return s
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.p.fail(key, "cannot read the value as %s", strings.TrimPrefix(n.ShortTag(), "!!"))
			return nil
		}
		return x
	}
	d.p.fail(key, "unsupported YAML value")
	return nil
}

// scalar returns n's value with ${VAR} expanded, and whether a variable was
// expanded (then the value is withheld from error messages).
func (d *decoder) scalar(key string, n *yaml.Node, want string) (string, bool, bool) {
	if n.Kind != yaml.ScalarNode {
		d.p.fail(key, "must be %s, not %s", want, kindName(n))
		return "", false, false
	}
	s, expanded, err := expand(n.Value)
	if err != nil {
		if d.noSecrets && isSecretKey(key) {
			return "", true, true // not needed by who asked; never read
		}
		d.p.failErr(key, err)
		return "", false, false
	}
	return s, expanded, true
}

// isSecretKey reports whether key holds a credential: the client secret or
// a callback header value.
func isSecretKey(key string) bool {
	return key == "talkdesk.client_secret" || strings.Contains(key, ".callback_action.headers.")
}

type pair struct {
	name string
	val  *yaml.Node
}

// pairs lists a mapping's keys and values, with YAML merge keys ("<<")
// applied: the mapping's own keys win over merged ones, and among merged
// mappings the first listed wins.
func (d *decoder) pairs(key string, n *yaml.Node) []pair {
	var merged, own []pair
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := unalias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.p.fail(key, "keys must be plain strings, not %s", kindName(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(d.mergePairs(key, val), merged...)
			continue
		}
		if seen[k.Value] {
			d.p.fail(joinKey(key, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{name: k.Value, val: val})
	}
	all := append(merged, own...)
	last := make(map[string]int, len(all))
	for i, kv := range all {
		last[kv.name] = i
	}
	out := make([]pair, 0, len(last))
	for i, kv := range all {
		if last[kv.name] == i {
			out = append(out, kv)
		}
	}
	return out
}

func (d *decoder) mergePairs(key string, val *yaml.Node) []pair {
	val, ok := d.enter(key, val)
	if !ok {
		return nil
	}
	defer d.leave(val)
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(key, val)
	case yaml.SequenceNode:
		var out []pair
		for i := len(val.Content) - 1; i >= 0; i-- {
			item, ok := d.enter(key, val.Content[i])
			if !ok {
				return nil
			}
			if item.Kind != yaml.MappingNode {
				d.leave(item)
				d.p.fail(joinKey(key, "<<"), "must be a mapping or a list of mappings")
				return nil
			}
			out = append(out, d.pairs(key, item)...)
			d.leave(item)
		}
		return out
	}
	d.p.fail(joinKey(key, "<<"), "must be a mapping or a list of mappings")
	return nil
}

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
