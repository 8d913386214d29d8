; ctxpack tree-sitter query for TypeScript (.ts).
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

; classes: declarations (plain or abstract) and named class expressions
(class_declaration
  name: (type_identifier) @name) @definition.class

(abstract_class_declaration
  name: (type_identifier) @name) @definition.class

(class
  name: (type_identifier) @name) @definition.class

; `const Foo = class { ... }` (anonymous class expression named by its variable)
(variable_declarator
  name: (identifier) @name
  value: (class
    !name)) @definition.class

(interface_declaration
  name: (type_identifier) @name) @definition.interface

(type_alias_declaration
  name: (type_identifier) @name) @definition.type

(enum_declaration
  name: (identifier) @name) @definition.enum

; `namespace X {}` / `module X {}` / `declare module "x" {}`
(internal_module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(module
  name: (string
    (string_fragment) @name)) @definition.module

; methods in class bodies (incl. abstract signatures, getters/setters, #private)
(class_body
  (method_definition
    name: [(property_identifier) (private_property_identifier)] @name) @definition.method)

(class_body
  (abstract_method_signature
    name: [(property_identifier) (private_property_identifier)] @name) @definition.method)

(class_body
  (method_signature
    name: [(property_identifier) (private_property_identifier)] @name) @definition.method)

; class fields holding functions: `handle = () => {}`
(class_body
  (public_field_definition
    name: [(property_identifier) (private_property_identifier)] @name
    value: [(arrow_function) (function_expression)]) @definition.method)

; interface members that are methods
(interface_body
  (method_signature
    name: (property_identifier) @name) @definition.method)

; functions (any depth), overload / ambient signatures
(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

(function_signature
  name: (identifier) @name) @definition.function

; top-level `const f = () => ...` / `let f = function () {...}`, exported or not
(program
  [(lexical_declaration
     (variable_declarator
       name: (identifier) @name
       value: [(arrow_function) (function_expression) (generator_function)]) @definition.function)
   (variable_declaration
     (variable_declarator
       name: (identifier) @name
       value: [(arrow_function) (function_expression) (generator_function)]) @definition.function)])

(program
  (export_statement
    declaration: (lexical_declaration
      (variable_declarator
        name: (identifier) @name
        value: [(arrow_function) (function_expression) (generator_function)]) @definition.function)))

; ES5 / CommonJS style at top level: `exports.f = function () {}`, `Foo.prototype.m = function () {}`
(program
  (expression_statement
    (assignment_expression
      left: (member_expression
        object: [(identifier) (member_expression)]
        property: (property_identifier) @name)
      right: [(function_expression) (arrow_function)]) @definition.function))

; methods in object literals: `{ m() {} }` and `{ m: function () {} }`
(object
  (method_definition
    name: [(property_identifier) (string) (computed_property_name)] @name) @definition.method)

(pair
  key: (property_identifier) @name
  value: (function_expression)) @definition.method

; top-level `const NAME = <non-function value>`, exported or not
(program
  (lexical_declaration
    kind: "const"
    (variable_declarator
      name: (identifier) @name
      value: [(number) (string) (template_string) (true) (false) (null) (undefined) (regex)
              (object) (array) (identifier) (member_expression) (call_expression) (new_expression)
              (binary_expression) (unary_expression) (ternary_expression) (parenthesized_expression)
              (await_expression) (subscript_expression) (as_expression) (satisfies_expression)
              (non_null_expression)]) @definition.constant))

(program
  (export_statement
    declaration: (lexical_declaration
      kind: "const"
      (variable_declarator
        name: (identifier) @name
        value: [(number) (string) (template_string) (true) (false) (null) (undefined) (regex)
                (object) (array) (identifier) (member_expression) (call_expression) (new_expression)
                (binary_expression) (unary_expression) (ternary_expression) (parenthesized_expression)
                (await_expression) (subscript_expression) (as_expression) (satisfies_expression)
                (non_null_expression)]) @definition.constant)))

; ----------------------------------------------------------------- references

; calls: foo(), a.b.foo(), a?.foo()  (require(...) is handled with imports below), foo<T>()
((call_expression
  function: (identifier) @reference.call)
  (#not-eq? @reference.call "require"))

(call_expression
  function: (member_expression
    property: [(property_identifier) (private_property_identifier)] @reference.call))

; `new Foo()` / `new ns.Foo()` are type references
(new_expression
  constructor: (identifier) @reference.type)

(new_expression
  constructor: (member_expression
    property: (property_identifier) @reference.type))

; `extends Base` / `extends ns.Base` (class extends takes an expression)
(extends_clause
  value: (identifier) @reference.type)

(extends_clause
  value: (member_expression
    property: (property_identifier) @reference.type))

; type identifiers where they are used (not where they are declared)
[
  (type_annotation (type_identifier) @reference.type)
  (type_arguments (type_identifier) @reference.type)
  (array_type (type_identifier) @reference.type)
  (union_type (type_identifier) @reference.type)
  (intersection_type (type_identifier) @reference.type)
  (tuple_type (type_identifier) @reference.type)
  (optional_type (type_identifier) @reference.type)
  (rest_type (type_identifier) @reference.type)
  (readonly_type (type_identifier) @reference.type)
  (parenthesized_type (type_identifier) @reference.type)
  (implements_clause (type_identifier) @reference.type)
  (constraint (type_identifier) @reference.type)
  (default_type (type_identifier) @reference.type)
  (as_expression (type_identifier) @reference.type)
  (satisfies_expression (type_identifier) @reference.type)
  (lookup_type (type_identifier) @reference.type)
  (index_type_query (type_identifier) @reference.type)
  (conditional_type (type_identifier) @reference.type)
  (type_predicate (type_identifier) @reference.type)
  (index_signature (type_identifier) @reference.type)
  (mapped_type_clause (type_identifier) @reference.type)
  (template_type (type_identifier) @reference.type)
  (opting_type_annotation (type_identifier) @reference.type)
  (omitting_type_annotation (type_identifier) @reference.type)
  (adding_type_annotation (type_identifier) @reference.type)
]

(generic_type
  name: (type_identifier) @reference.type)

(nested_type_identifier
  name: (type_identifier) @reference.type)

(extends_type_clause
  type: (type_identifier) @reference.type)

(type_alias_declaration
  value: (type_identifier) @reference.type)

(function_type
  return_type: (type_identifier) @reference.type)

; imports: the module specifier without quotes
(import_statement
  source: (string
    (string_fragment) @reference.import))

(import_require_clause
  source: (string
    (string_fragment) @reference.import))

(export_statement
  source: (string
    (string_fragment) @reference.import))

; dynamic import("x") and `typeof import("x")`
(call_expression
  function: (import)
  arguments: (arguments
    (string
      (string_fragment) @reference.import)))

; CommonJS require("x"): a call ref for `require` plus an import ref for "x"
(call_expression
  function: (identifier) @reference.call
  arguments: (arguments
    .
    (string
      (string_fragment) @reference.import))
  (#eq? @reference.call "require"))
