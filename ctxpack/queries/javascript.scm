; ctxpack tree-sitter query for JavaScript (ES2022 + JSX).
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

; classes: declarations and named class expressions
(class_declaration
  name: (identifier) @name) @definition.class

(class
  name: (identifier) @name) @definition.class

; `const Foo = class { ... }` (anonymous class expression named by its variable)
(variable_declarator
  name: (identifier) @name
  value: (class
    !name)) @definition.class

; methods in class bodies (incl. getters/setters, #private, generators)
(class_body
  (method_definition
    name: [(property_identifier) (private_property_identifier)] @name) @definition.method)

; class fields holding functions: `handle = () => {}`
(class_body
  (field_definition
    property: [(property_identifier) (private_property_identifier)] @name
    value: [(arrow_function) (function_expression)]) @definition.method)

; function declarations, at any depth
(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
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
              (await_expression) (subscript_expression)]) @definition.constant))

(program
  (export_statement
    declaration: (lexical_declaration
      kind: "const"
      (variable_declarator
        name: (identifier) @name
        value: [(number) (string) (template_string) (true) (false) (null) (undefined) (regex)
                (object) (array) (identifier) (member_expression) (call_expression) (new_expression)
                (binary_expression) (unary_expression) (ternary_expression) (parenthesized_expression)
                (await_expression) (subscript_expression)]) @definition.constant)))

; ----------------------------------------------------------------- references

; calls: foo(), a.b.foo(), a?.foo()  (require(...) is handled with imports below)
((call_expression
  function: (identifier) @reference.call)
  (#not-eq? @reference.call "require"))

(call_expression
  function: (member_expression
    property: [(property_identifier) (private_property_identifier)] @reference.call))

; JSX components (capitalised element names) are calls of the component
(jsx_opening_element
  name: (identifier) @reference.call
  (#match? @reference.call "^[A-Z]"))

(jsx_self_closing_element
  name: (identifier) @reference.call
  (#match? @reference.call "^[A-Z]"))

(jsx_opening_element
  name: (member_expression
    property: (property_identifier) @reference.call))

(jsx_self_closing_element
  name: (member_expression
    property: (property_identifier) @reference.call))

; `new Foo()` / `new ns.Foo()` are type references
(new_expression
  constructor: (identifier) @reference.type)

(new_expression
  constructor: (member_expression
    property: (property_identifier) @reference.type))

; `extends Base` / `extends ns.Base`
(class_heritage
  (identifier) @reference.type)

(class_heritage
  (member_expression
    property: (property_identifier) @reference.type))

; imports: the module specifier without quotes
(import_statement
  source: (string
    (string_fragment) @reference.import))

(export_statement
  source: (string
    (string_fragment) @reference.import))

; dynamic import("x")
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
