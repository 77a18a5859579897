#!/usr/bin/python3
"""The layout rules of docs/design.md ("Where things are"), checked over #include lines:

- ews/ and certs/ are libraries that stand alone: a quoted include in ews/ names a file of
  ews/ or certs.h (ews/ uses certs/); one in certs/ names a file of certs/. Nothing of
  component/.
- A room of component/ reaches another room only through that room's public header
  (ROOM/ROOM.h); private headers (*_int.h and the module headers behind the public one)
  stay inside their folder.

Usage: check_layout.py [SOURCE_ROOT]   (exit 1 and one line per violation)
       check_layout.py --self-test     (proves the checker finds planted violations)
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# Headers of another library a library may name (by name, as its include path finds them).
LIBS = {'ews': {'certs.h': 'certs/certs.h'}, 'certs': {}}


def sources(root, top):
    for dirpath, _, names in os.walk(os.path.join(root, top)):
        for n in sorted(names):
            if n.endswith(('.c', '.h')):
                yield os.path.join(dirpath, n)


def check_library(root, lib, allowed):
    bad = []
    libdir = os.path.join(root, lib)
    for path in sources(root, lib):
        here = os.path.dirname(path)
        for inc in INCLUDE.findall(open(path, encoding='utf-8').read()):
            if os.path.exists(os.path.join(here, inc)) and \
                    os.path.realpath(os.path.join(here, inc)).startswith(os.path.realpath(libdir)):
                continue
            if inc in allowed and os.path.exists(os.path.join(root, allowed[inc])):
                continue
            bad.append('%s: includes "%s", which is not part of %s/' %
                       (os.path.relpath(path, root), inc, lib))
    return bad


def check_rooms(root):
    bad = []
    comp = os.path.join(root, 'component')
    rooms = sorted(d for d in os.listdir(comp) if os.path.isdir(os.path.join(comp, d)))
    for path in sources(root, 'component'):
        rel = os.path.relpath(path, comp).split(os.sep)
        room = rel[0] if len(rel) > 1 else None
        for inc in INCLUDE.findall(open(path, encoding='utf-8').read()):
            parts = inc.split('/')
            if len(parts) == 2 and parts[0] in rooms and parts[0] != room:
                if parts[1] != parts[0] + '.h':
                    bad.append('%s: includes "%s"; other rooms use only "%s/%s.h"' %
                               (os.path.relpath(path, root), inc, parts[0], parts[0]))
            elif len(parts) == 1 and room is not None and \
                    not os.path.exists(os.path.join(comp, room, inc)) and \
                    os.path.exists(os.path.join(comp, inc)) is False:
                for other in rooms:
                    if other != room and os.path.exists(os.path.join(comp, other, inc)):
                        bad.append('%s: includes "%s" of %s/ by its bare name' %
                                   (os.path.relpath(path, root), inc, other))
    return bad


def check(root):
    bad = []
    for lib, allowed in LIBS.items():
        bad += check_library(root, lib, allowed)
    return bad + check_rooms(root)


def self_test():
    """Plants one violation of each rule in a scratch tree; each must be reported."""
    with tempfile.TemporaryDirectory() as t:
        def put(rel, text):
            os.makedirs(os.path.dirname(os.path.join(t, rel)), exist_ok=True)
            open(os.path.join(t, rel), 'w').write(text)
        put('ews/ews.h', '#include "certs.h"\n')
        put('ews/client.c', '#include "ews.h"\n#include "config/config.h"\n')
        put('certs/certs.h', '')
        put('certs/store.c', '#include "certs.h"\n#include "../ews/ews.h"\n')
        put('component/config/config.h', '')
        put('component/store/store.h', '#include "config/config.h"\n')
        put('component/store/store_int.h', '')
        put('component/adhoc/adhoc.c', '#include "store/store_int.h"\n#include "store/store.h"\n')
        found = check(t)
        want = ['ews/client.c: includes "config/config.h"', 'certs/store.c: includes "../ews/ews.h"',
                'component/adhoc/adhoc.c: includes "store/store_int.h"']
        missing = [w for w in want if not any(f.startswith(w) for f in found)]
        if missing or len(found) != len(want):
            print('self-test failed: found %r, wanted %r' % (found, want))
            return 1
    print('self-test: %d planted violations found' % len(want))
    return 0


def main():
    if sys.argv[1:] == ['--self-test']:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('CP_SOURCE_ROOT', '.')
    bad = check(root)
    for line in bad:
        print(line)
    if bad:
        return 1
    print('layout: ews/ and certs/ stand alone; rooms meet through their public headers')
    return 0


if __name__ == '__main__':
    sys.exit(main())
