//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Sizes a benchmark file may have: room for the header and one record, and
// at most Talkdesk's limit for one upload.
const (
	minFileSize = 200
	maxFileSize = 20000
)

const csvHeader = "first_name,last_name,mobile_phone,note\n"

// csvBody is a CSV file of exactly size bytes whose content is unique to
// id: every record carries it, and the last record's note pads the file.
// size must leave room for the header and one record (minFileSize does for
// the benchmark's ids).
func csvBody(id string, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, csvHeader...)
	for i := 0; ; i++ {
		row := fmt.Appendf(nil, "Bench,%s-%d,+1202555%04d,\n", id, i, i%10000)
		if len(b)+len(row) > size {
			break
		}
		b = append(b, row...)
	}
	pad := size - len(b)
	b = append(b[:len(b)-1], strings.Repeat("x", pad)...)
	return append(b, '\n')
}

// dropFile is one benchmark file: written under stage, then renamed into
// its folder.
type dropFile struct {
	name   string
	list   int // index of the folder and its record list
	staged string
	target string
}

// stageFiles writes n files of size bytes under stage, spread over the
// folders in turn, and flushes them to disk so that writing them back does
// not compete with the measured run. Names are unique across folders.
func stageFiles(stage string, folders []string, n, size int, tag string) ([]dropFile, error) {
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, err
	}
	files := make([]dropFile, n)
	for i := range files {
		k := i % len(folders)
		name := fmt.Sprintf("%s-%02d-%06d.csv", tag, k, i)
		f := dropFile{name: name, list: k, staged: filepath.Join(stage, name), target: filepath.Join(folders[k], name)}
		if err := os.WriteFile(f.staged, csvBody(tag+name, size), 0o644); err != nil {
			return nil, err
		}
		files[i] = f
	}
	syscall.Sync()
	return files, nil
}

// makeFolders creates n drop folders with their done/ folders under root.
func makeFolders(root string, n int) (drops, dones []string, err error) {
	for k := range n {
		d := filepath.Join(root, fmt.Sprintf("drop%02d", k))
		if err := os.MkdirAll(filepath.Join(d, "done"), 0o755); err != nil {
			return nil, nil, err
		}
		drops = append(drops, d)
		dones = append(dones, filepath.Join(d, "done"))
	}
	return drops, dones, nil
}

// listID is the record list of folder k.
func listID(k int) string {
	return fmt.Sprintf("6c0c0a3a-2b7e-4a57-9a61-%012d", k)
}

// countFiles is the number of entries in dir (0 when it does not exist).
func countFiles(dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	return len(ents)
}
