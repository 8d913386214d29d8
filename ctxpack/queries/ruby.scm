; ctxpack tree-sitter query for Ruby.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

; classes and modules (`class A::B` is named B)
(class
  name: [(constant) @name
         (scope_resolution
           name: (constant) @name)]) @definition.class

(module
  name: [(constant) @name
         (scope_resolution
           name: (constant) @name)]) @definition.module

; instance methods in a class / module / `class << self` body
(class
  body: (body_statement
    (method
      name: (_) @name) @definition.method))

(module
  body: (body_statement
    (method
      name: (_) @name) @definition.method))

(singleton_class
  body: (body_statement
    (method
      name: (_) @name) @definition.method))

; `def self.build` / `def obj.x` anywhere
(singleton_method
  name: (_) @name) @definition.method

; top-level `def` is a function
(program
  (method
    name: (_) @name) @definition.function)

; constants: `NAME = ...` at top level or in a class / module body
(program
  (assignment
    left: (constant) @name) @definition.constant)

(class
  body: (body_statement
    (assignment
      left: (constant) @name) @definition.constant))

(module
  body: (body_statement
    (assignment
      left: (constant) @name) @definition.constant))

; ----------------------------------------------------------------- references

; method calls with a receiver or arguments: foo(x), obj.foo, Foo::bar
; (require/include & co. are handled by the patterns below)
((call
  method: (identifier) @reference.call)
  (#not-match? @reference.call "^(require|require_relative|load|include|extend|prepend)$"))

; receivers that are constants are classes / modules: Foo.new, A::B.call
(call
  receiver: [(constant) @reference.type
             (scope_resolution
               name: (constant) @reference.type)])

; superclass
(superclass
  [(constant) @reference.type
   (scope_resolution
     name: (constant) @reference.type)])

; mixins: include Foo / extend Foo / prepend Foo (one call ref plus the module as a type ref)
((call
  method: (identifier) @reference.call
  arguments: (argument_list
    [(constant) @reference.type
     (scope_resolution
       name: (constant) @reference.type)]))
  (#any-of? @reference.call "include" "extend" "prepend"))

; rescue Foo::Error => e
(exceptions
  [(constant) @reference.type
   (scope_resolution
     name: (constant) @reference.type)])

; require "x" / require_relative "x" / load "x": the path without quotes
((call
  method: (identifier) @reference.call
  arguments: (argument_list
    .
    (string
      (string_content) @reference.import)))
  (#any-of? @reference.call "require" "require_relative" "load"))
