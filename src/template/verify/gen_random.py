import random
import sys; random.seed(int(sys.argv[1]))
atoms = ['{{ if kindIs "map" . }}M{{ else }}{{ . }}{{ end }}', '{{ $.Values.a.b }}', 'T', '{{ $x }}', '{{ $x = add $x 1 }}', '{{ len $.Values.a.l }}', '{{ include "d" . }}', '{{ template "d" 7 }}']
def gen(depth, in_range):
    if depth == 0:
        return random.choice(atoms)
    k = random.randint(0, 9)
    inner = lambda ir=in_range: "".join(gen(depth-1, ir) for _ in range(random.randint(1,3)))
    if k == 0:
        return "{{ if eq (len $.Values.a.l) 3 }}" + inner() + "{{ else }}" + inner() + "{{ end }}"
    if k == 1:
        return "{{ with $.Values.a.nested }}" + inner() + "{{ else }}" + inner() + "{{ end }}"
    if k == 2:
        return "{{ with $.Values.a.z }}" + inner() + "{{ else }}E" + inner() + "{{ end }}"
    if k == 3:
        return "{{ range $i, $e := $.Values.a.l }}" + inner(True) + "{{ end }}"
    if k == 4:
        return "{{ range $.Values.a.m }}" + inner(True) + "{{ else }}" + inner() + "{{ end }}"
    if k == 5 and in_range:
        return "{{ if eq (typeOf .) \"string\" }}{{ break }}{{ end }}"
    if k == 6 and in_range:
        return "{{ if eq (typeOf .) \"int\" }}{{ continue }}{{ end }}"
    if k == 7:
        return "{{ $x := 10 }}" + inner()
    if k == 8:
        return "{{ range $k, $v := $.Values.a.nested }}" + inner(True) + "{{ end }}"
    return random.choice(atoms)
cases = []
for i in range(150):
    body = gen(random.randint(1, 4), False)
    cases.append('{{ define "d" }}<{{ . }}>{{ end }}{{ $x := 0 }}' + body + "|{{ $x }}")
open(sys.argv[2], "w").write("\n=====\n".join(cases))
