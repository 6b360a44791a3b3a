package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/talkdesk"
)

// listNames holds the names of the record lists, as Talkdesk gave them,
// for the log and `listdrop status`.
type listNames struct {
	mu    sync.Mutex
	names map[string]string // by list id
}

func (n *listNames) get(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[id]
}

func (n *listNames) set(id, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names == nil {
		n.names = map[string]string{}
	}
	n.names[id] = name
}

// namedPipeline is the pipeline as the admin endpoint shows it: each
// folder's status with its list's name.
type namedPipeline struct {
	*pipeline.Pipeline
	names *listNames
}

func (p namedPipeline) Status() pipeline.Status {
	st := p.Pipeline.Status()
	for i := range st.Folders {
		st.Folders[i].ListName = p.names.get(st.Folders[i].ListID)
	}
	return st
}

// listLookupFirstWait is the first wait before asking Talkdesk again when
// it could not be reached; the waits double up to retry.max_backoff.
const listLookupFirstWait = 2 * time.Second

// lookUpListNames reads each folder's record list once Talkdesk can be
// reached: it logs the list's name for the folder, or warns about a list
// the client cannot see. It never stops the daemon; the network may come
// later, so it asks again, with waits that grow, until every list has an
// answer or ctx ends.
func lookUpListNames(ctx context.Context, cfg *config.Config, client *talkdesk.Client, names *listNames, log *slog.Logger) {
	var ids []string
	seen := map[string]bool{}
	for _, f := range cfg.Folders {
		if !seen[f.RecordListID] {
			seen[f.RecordListID] = true
			ids = append(ids, f.RecordListID)
		}
	}
	// each calls fn for every folder of the list, with its config key.
	each := func(id string, fn func(key string, f config.Folder)) {
		for i, f := range cfg.Folders {
			if f.RecordListID == id {
				fn(fmt.Sprintf("folders[%d].record_list_id", i), f)
			}
		}
	}
	wait := min(listLookupFirstWait, cfg.Retry.MaxBackoff)
	warned := false
	for {
		var left []string
		for k, id := range ids {
			l, err := client.GetRecordList(ctx, id)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				name := printable(l.Name)
				names.set(id, name)
				each(id, func(_ string, f config.Folder) {
					log.Info("folder → record list", "folder", f.Path, "list", id, "list_name", name, "list_status", l.Status)
				})
				continue
			}
			if listIsAbsent(err) {
				// Files for it will fail and say why; the other folders go on.
				problem := listProblem(cfg, client, id, err)
				each(id, func(key string, f config.Folder) {
					log.Warn("record list not found", "folder", f.Path, "list", id, "error", key+": "+problem)
				})
				continue
			}
			// Talkdesk cannot be reached, or refuses the credentials: the
			// lists still to read wait for the next round.
			if !warned {
				log.Warn("cannot read the record lists' names yet; trying again later", "list", id, "error", listProblem(cfg, client, id, err))
				warned = true
			} else {
				log.Debug("cannot read the record list's name yet", "list", id, "error", err)
			}
			left = ids[k:]
			break
		}
		if ids = left; len(ids) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, cfg.Retry.MaxBackoff)
	}
}

// listIsAbsent reports whether Talkdesk answered that the list is not
// there for this client (404, 403, or another refusal of the request
// itself), as opposed to not being reachable.
func listIsAbsent(err error) bool {
	var ae *talkdesk.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Status == 403 || talkdesk.Classify(err) == talkdesk.Permanent
}
