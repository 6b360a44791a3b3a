package main

// The README is the front page and the manual lives in docs/. These tests
// keep them honest: every configuration key is documented, every relative
// link resolves, and the front page stays short.

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Configuration keys are written as dotted paths from the top of the
// file: talkdesk.client_id, retry.give_up_after. An element of a list is
// written with [] after the list's key: folders[].record_list_id.

// documentedNotInExample lists the keys that docs/configuration.md
// documents but config.example.yaml does not set, and why. Every one of
// them is shown in the example, commented out.
var documentedNotInExample = map[string]string{
	"talkdesk.client_secret_file": "an alternative to client_secret: exactly one of the three may be set",
	"talkdesk.private_key_file":   "an alternative to client_secret: exactly one of the three may be set",
	"talkdesk.key_id":             "only used with private_key_file, which the example leaves out",
	"talkdesk.api_url":            "overrides the host picked by region; the example relies on region",
	"talkdesk.token_url":          "overrides the URL built from region and account; the example relies on them",
	"talkdesk.ca_file":            "only for a private CA or a TLS-inspecting proxy",
	"log.file":                    "left out by default: under systemd the log goes to the journal",
	"admin.web_config_file":       "only needed when admin.listen is not a loopback address",
	"folders[].sheet":             "only used with xlsx: true, which the example leaves off",
}

// freeFormMaps are mappings whose keys are data passed on as they are, not
// configuration keys.
var freeFormMaps = map[string]bool{
	"folders[].callback_action.headers": true,
	"folders[].callback_action.body":    true,
}

// exampleKeys walks config.example.yaml. leaves are the keys that hold a
// value (a scalar, a list of scalars, or a free-form mapping); all also has
// the keys that only hold other keys (talkdesk, folders[].callback_action).
func exampleKeys(t *testing.T) (leaves, all map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	leaves, all = map[string]bool{}, map[string]bool{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(prefix, c)
			}
		case yaml.MappingNode:
			if prefix != "" {
				all[prefix] = true
			}
			if freeFormMaps[prefix] {
				leaves[prefix] = true
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i].Value
				if prefix != "" {
					key = prefix + "." + key
				}
				walk(key, n.Content[i+1])
			}
		case yaml.SequenceNode:
			all[prefix] = true
			scalars := true
			for _, c := range n.Content {
				if c.Kind != yaml.ScalarNode {
					scalars = false
					walk(prefix+"[]", c)
				}
			}
			if scalars {
				leaves[prefix] = true
			}
		default:
			all[prefix] = true
			leaves[prefix] = true
		}
	}
	walk("", &doc)
	return leaves, all
}

// documentedKeys reads the key table of docs/configuration.md: the table
// whose header's first cell is "Key". Each key is in backquotes in a row's
// first cell; a cell may name several.
func documentedKeys(t *testing.T, page string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	inTable := false
	code := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(line, "|")
		first := strings.TrimSpace(cells[1])
		if first == "Key" {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(first, "---") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(first, -1) {
			keys[m[1]] = true
		}
	}
	if len(keys) == 0 {
		t.Fatal("docs/configuration.md has no key table (a table whose first column is \"Key\")")
	}
	return keys
}

func TestDocsConfigurationKeys(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	leaves, all := exampleKeys(t)
	documented := documentedKeys(t, string(b))

	for _, k := range sorted(leaves) {
		if !documented[k] {
			t.Errorf("config.example.yaml sets %s, which the key table of docs/configuration.md does not document", k)
		}
	}
	for _, k := range sorted(documented) {
		_, excused := documentedNotInExample[k]
		switch {
		case all[k] && excused:
			t.Errorf("%s is in config.example.yaml now: remove it from documentedNotInExample", k)
		case !all[k] && !excused:
			t.Errorf("docs/configuration.md documents %s, which config.example.yaml does not have (add it there, or to documentedNotInExample with the reason)", k)
		}
	}
	for k := range documentedNotInExample {
		if !documented[k] {
			t.Errorf("documentedNotInExample names %s, which docs/configuration.md does not document", k)
		}
	}
}

func sorted(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// markdownPages returns README.md and every page in docs/.
func markdownPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no pages in docs/")
	}
	return append([]string{"README.md"}, pages...)
}

var (
	fenceLine  = regexp.MustCompile("^\\s*```")
	codeSpan   = regexp.MustCompile("`[^`]*`")
	headingRe  = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	linkRe     = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	hasScheme  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	notInSlugs = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// proseLines returns the lines of a markdown text, those of fenced code
// blocks (and their fences) blanked, so line numbers stay the file's.
func proseLines(text string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if fenceLine.MatchString(line) {
			fenced = !fenced
			line = ""
		}
		if fenced {
			line = ""
		}
		out = append(out, line)
	}
	return out
}

// githubAnchor is the anchor GitHub gives a heading: lower case,
// punctuation removed (letters, digits, spaces, hyphens and underscores
// stay), each space a hyphen.
func githubAnchor(heading string) string {
	s := strings.ToLower(strings.TrimSpace(heading))
	s = notInSlugs.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

// anchors returns the anchors of a markdown file's headings; a heading
// repeated gets -1, -2… as on GitHub.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, line := range proseLines(text) {
		m := headingRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := githubAnchor(m[1])
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

func TestDocsGithubAnchor(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"Quick start": "quick-start",
		"Signed-key credentials (private_key_jwt)":                          "signed-key-credentials-private_key_jwt",
		"Talkdesk's verdict: the validation outcome":                        "talkdesks-verdict-the-validation-outcome",
		"`listdrop history [--folder F] [--failed] [--since 24h] [--json]`": "listdrop-history---folder-f---failed---since-24h---json",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestDocsRelativeLinksResolve(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, page := range markdownPages(t) {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range proseLines(string(b)) {
			line = codeSpan.ReplaceAllString(line, "")
			for _, m := range linkRe.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if hasScheme.MatchString(target) {
					continue
				}
				checked++
				path, anchor, _ := strings.Cut(target, "#")
				file := page
				if path != "" {
					file = filepath.Join(filepath.Dir(page), filepath.FromSlash(path))
				}
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s (line %d): link %s: %s does not exist", page, n+1, target, file)
					continue
				}
				if anchor == "" || !strings.HasSuffix(file, ".md") {
					continue
				}
				tb, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if !anchors(string(tb))[anchor] {
					t.Errorf("%s (line %d): link %s: %s has no heading with the anchor #%s", page, n+1, target, file, anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no relative links to check")
	}
}

// readmeLimit keeps README.md a front page; the manual is in docs/.
const readmeLimit = 12288

func TestDocsReadmeIsAFrontPage(t *testing.T) {
	t.Parallel()
	fi, err := os.Stat("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= readmeLimit {
		t.Errorf("README.md is %d bytes, over the front page's %d: move the detail to a page in docs/", fi.Size(), readmeLimit)
	}
}
