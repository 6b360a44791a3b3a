package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// verifyPages checks the page tree of a bbolt file by reading the file, not
// bbolt's memory map, before bbolt is trusted with it. bbolt follows page
// ids, offsets and overflow counts as written: a damaged one makes it read
// outside the file (a fault that ends the process), loop for billions of
// pages, or, at the next write, free a page still in use. So every page
// reachable from the current meta page is checked to lie inside the file
// and to be used once, every element inside its page, and every page to be
// either reachable or free.
//
// The layout is bbolt 1.x's (go.etcd.io/bbolt/internal/common), in the
// byte order of the machines listdrop is built for (little-endian).
func verifyPages(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	v := &pageVerifier{r: f, size: fi.Size()}
	if err := v.readMeta(); err != nil {
		return err
	}
	v.used = make([]bool, v.hwm)
	v.used[0], v.used[1] = true, true
	if err := v.tree(v.root, 0); err != nil {
		return err
	}
	if v.freelist != noFreelist {
		if err := v.free(); err != nil {
			return err
		}
		for id, ok := range v.used {
			if !ok {
				return fmt.Errorf("page %d is neither used nor free", id)
			}
		}
	}
	return nil
}

const (
	pageHeaderSize = 16
	elementSize    = 16
	branchFlag     = 0x01
	leafFlag       = 0x02
	freelistFlag   = 0x10
	bucketLeafFlag = 0x01
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	maxDepth       = 64
)

type pageVerifier struct {
	r        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64 // pages in use by the current meta: ids below it
	root     uint64
	freelist uint64
	used     []bool
}

var le = binary.LittleEndian

// readMeta picks the meta page bbolt would: the valid one with the higher
// transaction id.
func (v *pageVerifier) readMeta() error {
	var best []byte
	var bestTx uint64
	for i := range 2 {
		// The page size is not known yet; bbolt's is at least 1024 and
		// meta 0 is at offset 0, meta 1 at one page size.
		buf := make([]byte, pageHeaderSize+64)
		off := int64(0)
		if i == 1 {
			if best == nil {
				continue // meta 1 is found through meta 0's page size
			}
			off = int64(le.Uint32(best[8:]))
		}
		if _, err := v.r.ReadAt(buf, off); err != nil {
			continue
		}
		m := buf[pageHeaderSize:]
		h := fnv.New64a()
		h.Write(m[:56])
		if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion || le.Uint64(m[56:]) != h.Sum64() {
			continue
		}
		if tx := le.Uint64(m[48:]); best == nil || tx > bestTx {
			best, bestTx = m, tx
		}
	}
	if best == nil {
		// Meta 0 damaged: meta 1 may still be whole, at a page size bbolt
		// would have picked.
		for _, ps := range []int64{4096, 8192, 16384, 65536, 1024, 2048} {
			buf := make([]byte, pageHeaderSize+64)
			if _, err := v.r.ReadAt(buf, ps); err != nil {
				continue
			}
			m := buf[pageHeaderSize:]
			h := fnv.New64a()
			h.Write(m[:56])
			if le.Uint32(m[0:]) == boltMagic && le.Uint64(m[56:]) == h.Sum64() && int64(le.Uint32(m[8:])) == ps {
				best = m
				break
			}
		}
	}
	if best == nil {
		return errors.New("neither of its two meta pages is valid")
	}
	v.pageSize = int64(le.Uint32(best[8:]))
	v.root, v.freelist, v.hwm = le.Uint64(best[16:]), le.Uint64(best[32:]), le.Uint64(best[40:])
	if v.pageSize < 512 || v.pageSize > 1<<20 {
		return fmt.Errorf("page size %d", v.pageSize)
	}
	if v.hwm < 2 || int64(v.hwm) > v.size/v.pageSize {
		return fmt.Errorf("the file is %d bytes, too small for the %d pages its meta page counts", v.size, v.hwm)
	}
	return nil
}

// page reads page id with its overflow pages, after checking they lie
// within the pages in use and are not used twice.
func (v *pageVerifier) page(id uint64) ([]byte, error) {
	if id < 2 || id >= v.hwm {
		return nil, fmt.Errorf("a page id (%d) is outside the file's %d pages", id, v.hwm)
	}
	head := make([]byte, pageHeaderSize)
	if _, err := v.r.ReadAt(head, int64(id)*v.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := le.Uint64(head); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(le.Uint32(head[12:]))
	if overflow >= v.hwm-id {
		return nil, fmt.Errorf("page %d runs %d pages past the end of the file", id, overflow)
	}
	for p := id; p <= id+overflow; p++ {
		if v.used[p] {
			return nil, fmt.Errorf("page %d is used twice", p)
		}
		v.used[p] = true
	}
	buf := make([]byte, int64(overflow+1)*v.pageSize)
	if _, err := v.r.ReadAt(buf, int64(id)*v.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

// tree checks the branch or leaf page id and everything below it.
func (v *pageVerifier) tree(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d is deeper than any tree listdrop writes", id)
	}
	p, err := v.page(id)
	if err != nil {
		return err
	}
	return v.nodes(p, id, depth)
}

// nodes checks the elements of a page held in p (a page of the file, or an
// inline bucket's page inside a value).
func (v *pageVerifier) nodes(p []byte, id uint64, depth int) error {
	if len(p) < pageHeaderSize {
		return fmt.Errorf("page %d: shorter than its header", id)
	}
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return fmt.Errorf("page %d: %d elements do not fit in it", id, count)
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		switch flags {
		case branchFlag:
			pos, ksize := int(le.Uint32(p[e:])), int(le.Uint32(p[e+4:]))
			if e+pos+ksize > len(p) || pos < 0 {
				return fmt.Errorf("page %d: key %d lies outside the page", id, i)
			}
			if err := v.tree(le.Uint64(p[e+8:]), depth+1); err != nil {
				return err
			}
		case leafFlag:
			eflags, pos, ksize, vsize := le.Uint32(p[e:]), int(le.Uint32(p[e+4:])), int(le.Uint32(p[e+8:])), int(le.Uint32(p[e+12:]))
			end := e + pos + ksize + vsize
			if pos < 0 || ksize < 0 || vsize < 0 || end > len(p) || end < e {
				return fmt.Errorf("page %d: element %d lies outside the page", id, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			val := p[e+pos+ksize : end]
			if len(val) < 16 {
				return fmt.Errorf("page %d: bucket %d has a short header", id, i)
			}
			if root := le.Uint64(val); root != 0 {
				if err := v.tree(root, depth+1); err != nil {
					return err
				}
			} else if err := v.nodes(val[16:], id, depth+1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("page %d: not a branch or leaf page (flags %#x)", id, flags)
		}
	}
	return nil
}

// free checks the free list: its pages, and the ids it lists.
func (v *pageVerifier) free() error {
	p, err := v.page(v.freelist)
	if err != nil {
		return fmt.Errorf("free list: %w", err)
	}
	if le.Uint16(p[8:])&freelistFlag == 0 {
		return fmt.Errorf("free list: page %d is not a free-list page", v.freelist)
	}
	start, count := pageHeaderSize, uint64(le.Uint16(p[10:]))
	if count == 0xFFFF {
		count = le.Uint64(p[start:])
		start += 8
	}
	if count > uint64(len(p)-start)/8 {
		return fmt.Errorf("free list: %d ids do not fit in its pages", count)
	}
	for i := range count {
		id := le.Uint64(p[start+int(i)*8:])
		if id < 2 || id >= v.hwm {
			return fmt.Errorf("free list: page id %d is outside the file", id)
		}
		if v.used[id] {
			return fmt.Errorf("page %d is both used and free", id)
		}
		v.used[id] = true
	}
	return nil
}
