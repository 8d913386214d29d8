; ctxpack tree-sitter query for Python.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.
; Specific patterns (methods) come before general ones (functions).

; ---------------------------------------------------------------- definitions

; classes, at any depth
(class_definition
  name: (identifier) @name) @definition.class

; methods: functions directly in a class body, plain or decorated
(class_definition
  body: (block
    (function_definition
      name: (identifier) @name) @definition.method))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition
        name: (identifier) @name) @definition.method)))

; top-level functions, plain or decorated
(module
  (function_definition
    name: (identifier) @name) @definition.function)

(module
  (decorated_definition
    definition: (function_definition
      name: (identifier) @name) @definition.function))

; functions defined under module-level control flow (if TYPE_CHECKING / try: ... except ImportError)
(if_statement
  consequence: (block
    (function_definition
      name: (identifier) @name) @definition.function))

(elif_clause
  consequence: (block
    (function_definition
      name: (identifier) @name) @definition.function))

(else_clause
  body: (block
    (function_definition
      name: (identifier) @name) @definition.function))

(try_statement
  body: (block
    (function_definition
      name: (identifier) @name) @definition.function))

(except_clause
  (block
    (function_definition
      name: (identifier) @name) @definition.function))

; module-level UPPER_CASE assignments (optionally annotated) are constants
(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))

; PEP 695 type aliases: `type Alias = ...`
(type_alias_statement
  left: (type
    (identifier) @name)) @definition.type

; ----------------------------------------------------------------- references

; calls: foo(...) and obj.attr.foo(...)
(call
  function: (identifier) @reference.call)

(call
  function: (attribute
    attribute: (identifier) @reference.call))

; types in annotations, including generic arguments: Optional[Foo], mod.Foo
(type
  (identifier) @reference.type)

(type
  (attribute
    attribute: (identifier) @reference.type))

(generic_type
  (identifier) @reference.type)

; base classes
(class_definition
  superclasses: (argument_list
    (identifier) @reference.type))

(class_definition
  superclasses: (argument_list
    (attribute
      attribute: (identifier) @reference.type)))

; imports: the module path
(import_statement
  name: (dotted_name) @reference.import)

(import_statement
  name: (aliased_import
    name: (dotted_name) @reference.import))

(import_from_statement
  module_name: (dotted_name) @reference.import)

(import_from_statement
  module_name: (relative_import) @reference.import)
