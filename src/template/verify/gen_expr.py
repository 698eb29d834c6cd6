import random, sys
random.seed(int(sys.argv[1]))
leaves = ['1', '0', '2', '-3', '1.5', '"s"', '""', '"a,b"', 'true', 'false', '.Values.a.b', '.Values.a.s', '.Values.a.f', '.Values.a.l', '.Values.a.e', '.Values.a.m', '.Values.a.t', '.Values.a.nested', '(list 1 "x")', '(dict "k" 1 "j" "v")', '$v', '$.Values.a.z']
def expr(d):
    if d == 0 or random.random() < 0.25:
        return random.choice(leaves)
    f = random.choice(['and2','or2','not','eq','ne','default','empty','coalesce','len','index','toJson','quote','add','print','printf','first','join','hasKey','has','list','dict','typeOf','kindOf','toString','int','ternary','pipe'])
    e = lambda: expr(d-1)
    return {
        'and2': lambda: f"(and {e()} {e()})", 'or2': lambda: f"(or {e()} {e()})", 'not': lambda: f"(not {e()})",
        'eq': lambda: f"(eq {e()} {e()})", 'ne': lambda: f"(ne {e()} {e()})", 'default': lambda: f"(default {e()} {e()})",
        'empty': lambda: f"(empty {e()})", 'coalesce': lambda: f"(coalesce {e()} {e()} {e()})", 'len': lambda: f"(len {e()})",
        'index': lambda: "(index " + e() + " " + random.choice(['0','1','"k"','"nope"']) + ")", 'toJson': lambda: f"(toJson {e()})",
        'quote': lambda: f"(quote {e()})", 'add': lambda: f"(add {e()} {e()})", 'print': lambda: f"(print {e()} {e()})",
        'printf': lambda: f"(printf \"%v-%s-%d\" {e()} {e()} {e()})", 'first': lambda: f"(first {e()})", 'join': lambda: f"(join \",\" {e()})",
        'hasKey': lambda: f"(hasKey {e()} \"k\")", 'has': lambda: f"(has {e()} {e()})", 'list': lambda: f"(list {e()} {e()})",
        'dict': lambda: f"(dict \"x\" {e()})", 'typeOf': lambda: f"(typeOf {e()})", 'kindOf': lambda: f"(kindOf {e()})",
        'toString': lambda: f"(toString {e()})", 'int': lambda: f"(int {e()})", 'ternary': lambda: f"(ternary {e()} {e()} {random.choice(['true','false','(eq 1 1)'])})",
        'pipe': lambda: f"({e()} | {random.choice(['toJson','quote','len','empty','not','toString','default 5','typeOf'])})",
    }[f]()
cases = []
for i in range(int(sys.argv[3])):
    cases.append("{{ $v := " + expr(2) + " }}{{ " + expr(3) + " }}")
open(sys.argv[2], "w").write("\n=====\n".join(cases))
